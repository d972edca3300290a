"""Integrations with other tools: :mod:`llmswitch.integrations.custom_logger` holds
``CustomLogger``, the base class of logging callbacks (as ``litellm.integrations``)."""
