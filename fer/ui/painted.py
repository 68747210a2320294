"""The Live page's frames/s label, counted where the user looks: new frames the browser paints of
the returned video, not frames the server processed or sent (on a busy machine the browser
decodes and paints fewer: 6.7 painted against 12–14 sent was measured).

A small component (``st.components.v2``, JavaScript only) finds the WebRTC component's returned
<video> (its iframe is served by this server: same origin), follows it with
``requestVideoFrameCallback`` and, once a second, writes the rate of newly presented frames into
its own label; nothing goes back to the server, so the label costs no rerun.
"""
from __future__ import annotations

import streamlit as st

HTML = '<div class="fer-painted" data-testid="fer-painted"><span class="fer-painted-value">—</span> ' \
       '<span class="fer-painted-unit">new frames/s on screen</span></div>'
CSS = """
.fer-painted { font-family: var(--st-font, sans-serif); color: var(--st-text-color, inherit); }
.fer-painted-value { font-size: 2.25rem; font-weight: 400; }
.fer-painted-unit { font-size: 0.875rem; opacity: 0.7; }
"""
JS = """
export default function(component) {
  const { parentElement } = component;
  const label = parentElement.querySelector('.fer-painted-value');
  // One meter per page, whatever reruns do to this element: the newest label is the one written.
  const meter = window.__ferPainted = window.__ferPainted || { video: null, presented: null, at: null,
                                                              samples: [], timer: null };
  meter.label = label;
  // the returned stream: the largest visible <video> playing a stream in the component's iframe
  const returned = () => {
    let best = null;
    for (const f of document.querySelectorAll('iframe')) {
      let doc = null;
      try { doc = f.contentDocument; } catch (e) { continue; }
      for (const v of (doc ? doc.querySelectorAll('video') : [])) {
        if (!v.srcObject || !v.checkVisibility() || !v.offsetWidth) continue;
        if (!best || v.offsetWidth * v.offsetHeight > best.offsetWidth * best.offsetHeight) best = v;
      }
    }
    return best;
  };
  const follow = (v) => {
    const seen = (_, meta) => {  // the callback's clock is the iframe's: this page's is used throughout
      if (meter.video !== v) return;
      meter.samples.push([performance.now(), meta.presentedFrames]);
      v.requestVideoFrameCallback(seen);
    };
    v.requestVideoFrameCallback(seen);
  };
  if (meter.timer === null) {
    meter.timer = setInterval(() => {
      const v = returned();
      if (v !== meter.video) { meter.video = v; meter.samples = []; if (v) follow(v); }
      const now = performance.now();
      meter.samples = meter.samples.filter(s => s[0] >= now - 2000);  // the last two seconds
      const s = meter.samples;
      let text = '—';
      if (v && !v.paused && s.length) {
        const span = (now - s[0][0]) / 1000;
        text = span > 0.5 ? ((s[s.length - 1][1] - s[0][1]) / span).toFixed(1) : '—';
      } else if (v) {
        text = '0.0';
      }
      if (meter.label && meter.label.isConnected) meter.label.textContent = text;
    }, 1000);
  }
}
"""

_component = st.components.v2.component("fer_painted_fps", html=HTML, css=CSS, js=JS)


def painted_fps_label() -> None:
    """The label: new frames of the returned video the browser presented per second, over the
    last two seconds ("—" before the video plays)."""
    _component(key="fer-painted", height="content")
