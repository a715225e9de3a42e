"""Pure: observed facts, the one health judgement, the plan and the diff plan."""
