"""The rule engine and catalogue. See `registry` for what a rule is and `engine` for how rules run."""

from cleanclaim.rules.engine import RuleSelection, run_rules
from cleanclaim.rules.registry import Rule, all_rules, get_rule, register
from cleanclaim.rules.tables import Tables, tables_from_encounters

__all__ = ["Rule", "RuleSelection", "Tables", "all_rules", "get_rule", "register", "run_rules",
           "tables_from_encounters"]
