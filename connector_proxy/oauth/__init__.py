"""The daemon's side of OAuth: the browser's sign-in, and token sets the host could not store yet.

signin.py          sign-ins: redirect allowlist, state and PKCE verifier in a signed cookie, spent once
renewed_tokens.py  token sets a command renewed that the host could not store yet, kept for its next call
"""
