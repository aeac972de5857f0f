"""A short generated beep in the browser (WebAudio), no audio file.

Browsers only let a page make sound after a click on it, so the on/off switch lives in the
component itself: the click that turns sound on also unlocks the AudioContext.
"""

from __future__ import annotations

import param
from panel.custom import JSComponent

from dashboard.theme import BORDER, MUTED, NEUTRAL


class Beeper(JSComponent):
    """Beeps once each time `count` increases, while switched on (`enabled`): at the pitch
    of `side`, or at `tone` Hz, `pulses` times, with the timbre `wave` (set them first)."""

    count = param.Integer(default=0, doc="Raise it to beep.")
    enabled = param.Boolean(default=False, doc="Sound on; toggled by the button in the page.")
    side = param.String(default="buy", doc="'buy' beeps high, 'sell' low.")
    tone = param.Number(default=0.0, bounds=(0, None), doc="Pitch in Hz; 0: by `side`.")
    pulses = param.Integer(default=1, bounds=(1, 4), doc="Beeps per sound.")
    wave = param.Selector(
        default="sine", objects=["sine", "triangle", "square", "sawtooth"], doc="Timbre."
    )

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
    const freq = model.tone > 0 ? model.tone : (model.side === 'sell' ? 440 : 880);
    // Harsh timbres quieter, so that every sound is about as loud.
    const level = model.wave === 'sine' || model.wave === 'triangle' ? 0.08 : 0.03;
    for (let i = 0; i < model.pulses; i++) {{
      const start = ctx.currentTime + i * 0.16;
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.type = model.wave;
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(level, start);
      gain.gain.exponentialRampToValueAtTime(0.0001, start + 0.12);
      osc.connect(gain).connect(ctx.destination);
      osc.start(start);
      osc.stop(start + 0.13);
    }}
  }});
  paint();
  return button;
}}
"""
