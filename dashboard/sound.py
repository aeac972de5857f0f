"""A short generated beep in the browser (WebAudio), no audio file.

Browsers only let a page make sound after a click on it, so the on/off switch lives in the
component itself: the click that turns sound on also unlocks the AudioContext.
"""

from __future__ import annotations

import param
from panel.custom import JSComponent

from dashboard.theme import BORDER, MUTED, NEUTRAL


class Beeper(JSComponent):
    """Beeps once each time `count` increases, while switched on (`enabled`)."""

    count = param.Integer(default=0, doc="Raise it to beep.")
    enabled = param.Boolean(default=False, doc="Sound on; toggled by the button in the page.")
    side = param.String(default="buy", doc="'buy' beeps high, 'sell' low.")

    _esm = f"""
export function render({{ model }}) {{
  const button = document.createElement('button');
  let ctx = null;
  const paint = () => {{
    button.textContent = model.enabled ? 'sound on' : 'sound off';
    button.style.color = model.enabled ? '{NEUTRAL}' : '{MUTED}';
  }};
  Object.assign(button.style, {{
    background: 'transparent', border: '1px solid {BORDER}', borderRadius: '3px',
    padding: '3px 8px', font: 'inherit', fontSize: '12px', cursor: 'pointer',
  }});
  button.addEventListener('click', () => {{
    model.enabled = !model.enabled;
    if (model.enabled && ctx === null) {{ ctx = new (window.AudioContext || window.webkitAudioContext)(); }}
    if (ctx !== null && ctx.state === 'suspended') {{ ctx.resume(); }}
    paint();
  }});
  model.on('enabled', paint);
  model.on('count', () => {{
    if (!model.enabled || ctx === null) return;
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.frequency.value = model.side === 'sell' ? 440 : 880;
    gain.gain.setValueAtTime(0.08, ctx.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.0001, ctx.currentTime + 0.12);
    osc.connect(gain).connect(ctx.destination);
    osc.start();
    osc.stop(ctx.currentTime + 0.13);
  }});
  paint();
  return button;
}}
"""
