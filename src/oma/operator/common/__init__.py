"""What both resources' controllers share: labels and ownership, conditions, Events, the loop, pod security."""
