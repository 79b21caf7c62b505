"""The FastAGI adapter: Asterisk's AGI(agi://...) calls as cbdialer.ports.ivr.IvrCall (docs/design.md section 14).
Rule: the only module that speaks AGI; the flows are the services'."""

from cbdialer.adapters.agi.protocol import AgiCall
from cbdialer.adapters.agi.server import serve_agi

__all__ = ["AgiCall", "serve_agi"]
