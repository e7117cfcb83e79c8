"""CLI command groups. Each module defines ``register(app: typer.Typer) -> None`` and stays a thin layer over
the Python API (``cleanclaim.code``, ``cleanclaim.check``, ``cleanclaim.price`` …): never a second implementation."""
