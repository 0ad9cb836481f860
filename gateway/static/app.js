// The live page: microphone → AudioWorklet → /v1/stream (one connection per lane), partials
// and finals per lane, the latency chart, the daemon's status, downloads.
(() => {
  const $ = (selector) => document.querySelector(selector);
  const token = new URLSearchParams(location.search).get('token') || '';
  const state = { audio: null, stream: null, node: null, lanes: {}, finals: [], points: [] };

  function log(text) {
    const box = $('#log');
    box.textContent = `${new Date().toLocaleTimeString()} ${text}\n` + box.textContent.slice(0, 4000);
  }
  function setState(text) { $('#state').textContent = text; }

  function socketUrl() {
    return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/v1/stream`;
  }

  class Lane {
    constructor(name, profile) {
      this.name = name;
      this.root = document.querySelector(`.lane[data-lane="${name}"]`);
      this.root.hidden = false;
      this.profile = profile;
      this.ws = null;
      this.open = false;
      this.done = new Promise((resolve) => { this.finish = resolve; });
    }
    connect() {
      const ws = new WebSocket(socketUrl(), token ? ['token', token] : undefined);
      ws.binaryType = 'arraybuffer';
      this.ws = ws;
      ws.onopen = () => {
        ws.send(JSON.stringify({ type: 'start', sample_rate: 16000, encoding: 'pcm_s16le',
          channels: 1, profile: this.profile, label: `page ${this.name}` }));
        this.open = true;
      };
      ws.onmessage = (event) => this.onMessage(JSON.parse(event.data));
      ws.onclose = (event) => {
        this.open = false;
        const sent = this.audioSeconds != null ? ` (${this.audioSeconds} s of audio)` : '';
        this.info(`closed ${event.code}${event.reason ? ': ' + event.reason : ''}${sent}`);
        log(`lane ${this.name} closed ${event.code} ${event.reason}`);
        this.finish();
        if (Object.values(state.lanes).every((lane) => !lane.open)) stopCapture();
      };
    }
    info(text) { this.root.querySelector('.lane-info').textContent = text; }
    send(frame) { if (this.open && this.ws.readyState === WebSocket.OPEN) this.ws.send(frame); }
    stop() { if (this.open) this.ws.send(JSON.stringify({ type: 'stop' })); }
    onMessage(m) {
      if (m.type === 'ready') this.info(`${m.stream}, profile ${m.profile}`);
      else if (m.type === 'partial') {
        this.root.querySelector('.partial .stable').textContent = m.stable;
        this.root.querySelector('.partial .unstable').textContent = m.unstable;
      } else if (m.type === 'final') this.addFinal(m);
      else if (m.type === 'error') log(`lane ${this.name}: ${m.detail}`);
      else if (m.type === 'speech') setState(m.event === 'started' ? 'speech' : 'listening');
      else if (m.type === 'metrics') showMetrics(m);
      else if (m.type === 'closing') this.audioSeconds = m.audio_s;
    }
    addFinal(m) {
      this.root.querySelector('.partial .stable').textContent = '';
      this.root.querySelector('.partial .unstable').textContent = '';
      if (!m.text) return;
      const item = document.createElement('li');
      item.className = 'final';
      item.dataset.seq = m.seq;
      item.textContent = m.text;
      const latency = document.createElement('span');
      latency.className = 'lat';
      latency.textContent = `${Math.round(m.latency_ms)} ms`;
      item.append(latency);
      this.root.querySelector('.finals').append(item);
      const record = { lane: this.name, seq: m.seq, start: m.start, end: m.end, text: m.text,
        words: m.words, latency_ms: m.latency_ms, engine_ms: m.engine_ms, queue_wait_ms: m.queue_wait_ms };
      state.finals.push(record);
      state.points.push({ ...record, index: state.points.filter((p) => p.lane === this.name).length });
      LatencyChart.draw($('#chart'), state.points, $('#pct'));
      const noEngine = state.points.every((p) => p.engine_ms == null);
      $('#chartNote').textContent = noEngine ? ' (engine time and queue wait: not reported by this daemon)' : '';
    }
  }

  async function startCapture() {
    const constraints = { audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false } };
    state.stream = await navigator.mediaDevices.getUserMedia(constraints);
    let source;
    try { // 16 kHz straight from the browser where it can (Chromium; Firefox >= 125)
      if (new URLSearchParams(location.search).get('rate') === 'device') throw new Error('asked');
      state.audio = new AudioContext({ sampleRate: 16000 });
      source = state.audio.createMediaStreamSource(state.stream);
    } catch (error) { // a context at the device's rate; the worklet resamples to 16 kHz
      if (state.audio) state.audio.close();
      state.audio = new AudioContext();
      source = state.audio.createMediaStreamSource(state.stream);
    }
    await state.audio.audioWorklet.addModule('/static/worklet.js');
    if (state.audio.state === 'suspended') state.audio.resume(); // not awaited: may never run
    state.node = new AudioWorkletNode(state.audio, 'pcm-capture');
    state.node.port.onmessage = (event) => {
      state.framesCaptured = (state.framesCaptured || 0) + 1;
      for (const lane of Object.values(state.lanes)) lane.send(event.data);
    };
    source.connect(state.node);
    const mute = state.audio.createGain(); // Firefox renders only what reaches the destination
    mute.gain.value = 0;
    state.node.connect(mute).connect(state.audio.destination);
    state.lastRate = state.audio.sampleRate;
    state.contextState = state.audio.state;
    log(`microphone at ${state.audio.sampleRate} Hz, sent as 16 kHz s16le`);
  }

  function stopCapture() {
    if (state.node) state.node.disconnect();
    if (state.stream) state.stream.getTracks().forEach((track) => track.stop());
    if (state.audio) state.audio.close();
    state.node = state.stream = state.audio = null;
    const button = $('#mic');
    button.setAttribute('aria-pressed', 'false');
    button.textContent = '● Start microphone';
    setState('idle');
  }

  async function toggle() {
    const button = $('#mic');
    if (button.getAttribute('aria-pressed') === 'true') {
      setState('finishing…');
      Object.values(state.lanes).forEach((lane) => lane.stop());
      if (state.node) state.node.port.onmessage = null;
      return;
    }
    button.setAttribute('aria-pressed', 'true');
    button.textContent = '■ Stop';
    setState('starting…');
    state.lanes = { A: new Lane('A', $('#profile').value) };
    if ($('#sideBySide').checked) state.lanes.B = new Lane('B', $('#profileB').value);
    else document.querySelector('.lane[data-lane="B"]').hidden = true;
    try {
      await startCapture();
      Object.values(state.lanes).forEach((lane) => lane.connect());
      setState('listening');
    } catch (error) {
      log(`microphone: ${error}`);
      stopCapture();
    }
  }

  function showMetrics(m) {
    const lag = m.lag_s != null ? `, transcript lag ${m.lag_s} s` : '';
    $('#lag').textContent = `daemon latency p50 ${Math.round(m.latency_p50_ms || 0)} ms, p95 ${Math.round(m.latency_p95_ms || 0)} ms${lag}`;
  }

  async function pollStatus() {
    try {
      const headers = token ? { Authorization: `Token ${token}` } : {};
      const response = await fetch('/v1/status', { headers });
      const body = await response.json();
      const health = $('#health');
      health.textContent = body.health.detail;
      health.className = `health ${body.health.ok ? 'ok' : 'bad'}`;
      const rows = ((body.daemon || {}).processes || []).map((p) =>
        `<tr><td>${p.role}</td><td>${p.state}</td><td>${p.restarts}</td><td>${Math.round(p.rss_mb)}</td></tr>`);
      $('#procs tbody').innerHTML = rows.join('');
      const ring = (body.daemon || {}).ring;
      if (ring) $('#lag').textContent = `ring held back ${ring.held_back_s} s of ${ring.capacity_s} s; connections ${body.gateway.connections}`;
    } catch (error) {
      $('#health').textContent = `gateway unreachable: ${error}`;
      $('#health').className = 'health bad';
    }
  }

  $('#mic').addEventListener('click', toggle);
  $('#sideBySide').addEventListener('change', (e) => document.body.classList.toggle('side-by-side', e.target.checked));
  for (const button of document.querySelectorAll('.downloads button')) {
    button.addEventListener('click', () => Exports.download(state.finals, button.dataset.format));
  }
  pollStatus();
  setInterval(pollStatus, 2000);
  window.streamscribe = state; // for tests and the console
})();
