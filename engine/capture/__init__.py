"""Public capture: records written by people and systems without a Tessera login.

Two document kinds, in pack folders of their own (and as overlays):

- ``forms/``: web forms (``POST /api/v1/public/forms/NAME``): which entity, which fields a
  submission may fill, fixed and default values, a honeypot field, a rate limit and how
  a submission matching an existing record is handled;
- ``hooks/``: inbound webhooks (``POST /api/v1/public/hooks/NAME``) of chat widgets, mail
  gateways and other systems: a signed JSON payload mapped onto the entity's fields.

``definitions`` compiles and checks them with the rest of the automation; ``intake``
writes a submission through the data-access layer as the engine itself, audited with the
form or hook as its source.
"""
