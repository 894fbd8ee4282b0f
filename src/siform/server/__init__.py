"""The therapist server (``siform serve``): therapists review their patients' sessions remotely.

Health data, so nothing is public and every read or change of a patient's data is audited. The
parts: ``settings`` (database URL, secret key: from the environment or a settings file, never from
code), ``models`` (SQLAlchemy 2 tables) with Alembic ``migrations``, ``security`` (argon2 password
hashes, device tokens and invite codes stored as hashes, CSRF tokens, login rate limiting in the
database so it holds across workers), ``app`` (the FastAPI app: web pages for therapists, a JSON API
for patients' devices) and ``command`` (the ``siform serve`` command line).

Nothing here imports OpenCV or MediaPipe at import time; validating an upload imports
:mod:`siform.session`, which today still pulls in :mod:`siform.pipeline` (issue 14 point 7).
"""
