"""Lambda entry points and deploy-time scripts (see serverless.yml)."""
