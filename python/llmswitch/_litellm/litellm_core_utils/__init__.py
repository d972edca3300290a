"""``litellm.litellm_core_utils``: the helpers frameworks import from here."""
