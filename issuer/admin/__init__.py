"""The admin API's HTTP pieces: bearer-token guard (RFC 6750), request bodies."""
