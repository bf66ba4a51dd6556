"""The token endpoint's protocol logic (RFC 6749), framework-free apart from the form reader."""
