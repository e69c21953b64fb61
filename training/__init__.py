"""Model training: produces model directories with cards; never imported by the service."""
