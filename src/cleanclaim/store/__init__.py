"""The billing workspace's database: models, migrations, connection and tenant scoping (issue 12)."""
