"""ASGI entry point of the ops app, as compose and the Kubernetes manifests serve it: service.wsgi_ops's app behind
a tarpit (service/web/tarpit.py) that holds each throttled refusal a second without a thread.

    granian --interface asgi --host 10.0.0.5 --port 9100 service.asgi_ops:app

The same endpoints as service.wsgi_ops:app, which any WSGI server can still run; this one also bounds what a
flood of them costs: a client gets one refused request a second per connection.
"""

from service.web.tarpit import Tarpit
from service.wsgi_ops import app as wsgi_app

app = Tarpit(wsgi_app)
