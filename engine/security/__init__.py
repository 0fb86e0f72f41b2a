"""Security: identities, credentials and tokens (permissions land in the security issue)."""
