"""The sample shop: a realistic, seeded online shop written into the landing zone."""
