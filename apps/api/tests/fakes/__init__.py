"""Stand-ins for upstream services, served over real HTTP in tests."""
