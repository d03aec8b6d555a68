"""The schema layer: validation against ``schemas/``, payload builders and Hypothesis strategies."""
