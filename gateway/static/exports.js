// The session's finals as text, SRT, WebVTT or JSON (times in stream seconds from the start).
const Exports = (() => {
  function stamp(seconds, separator) {
    const ms = Math.max(0, Math.round(seconds * 1000));
    const h = Math.floor(ms / 3600000), m = Math.floor(ms / 60000) % 60, s = Math.floor(ms / 1000) % 60;
    const pad = (n, w) => String(n).padStart(w, '0');
    return `${pad(h, 2)}:${pad(m, 2)}:${pad(s, 2)}${separator}${pad(ms % 1000, 3)}`;
  }
  function render(finals, format) {
    const lanes = new Set(finals.map((f) => f.lane));
    const rows = finals.filter((f) => f.text).map((f) => ({ ...f, lane: lanes.size > 1 ? f.lane : '' }));
    if (format === 'json') return JSON.stringify(finals, null, 2);
    if (format === 'txt') return rows.map((f) => (f.lane ? `[${f.lane}] ` : '') + f.text).join('\n') + '\n';
    const separator = format === 'srt' ? ',' : '.';
    const cues = rows.map((f, i) => {
      const head = format === 'srt' ? `${i + 1}\n` : '';
      return `${head}${stamp(f.start, separator)} --> ${stamp(f.end, separator)}\n${f.lane ? `[${f.lane}] ` : ''}${f.text}\n`;
    });
    return (format === 'vtt' ? 'WEBVTT\n\n' : '') + cues.join('\n');
  }
  function download(finals, format) {
    const types = { txt: 'text/plain', srt: 'application/x-subrip', vtt: 'text/vtt', json: 'application/json' };
    const blob = new Blob([render(finals, format)], { type: types[format] });
    const link = document.createElement('a');
    link.href = URL.createObjectURL(blob);
    link.download = `streamscribe-session.${format}`;
    document.body.appendChild(link); link.click(); link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 1000);
  }
  return { render, download, stamp };
})();
