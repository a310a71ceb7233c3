"""Training code for the reference models; never imported by the service."""
