"""Small stages over plain values: normalize, classify, route."""
