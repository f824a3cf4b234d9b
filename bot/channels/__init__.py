"""Channels turn platform updates into the core's Event and render its Reply objects."""
