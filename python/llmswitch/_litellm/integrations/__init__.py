"""``litellm.integrations``: ``custom_logger.CustomLogger`` (llmswitch's)."""
