"""The analyzer's rules files (YAML), shipped inside the wheel as the package data of
``analyzer.rulefiles`` (pyproject.toml maps that package to this folder). No code lives here."""
