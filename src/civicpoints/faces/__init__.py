"""What the page faces (``backoffice``, ``counter``, ``portal``) share, so that none of them
imports another face's internals: the page error handler (``errors``) and form helpers
(``forms``: idempotency keys carried in forms, the points in a refusal's detail).

Faces only: no domain app imports this package (as none imports a face).
"""
