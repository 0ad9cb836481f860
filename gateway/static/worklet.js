// AudioWorklet: the microphone's float samples, mixed to mono, resampled to 16 kHz (linear
// interpolation when the context runs at another rate) and cut into 100 ms Int16 frames.
const TARGET_RATE = 16000;
const FRAME_SAMPLES = 1600; // 100 ms at 16 kHz

class PcmCapture extends AudioWorkletProcessor {
  constructor() {
    super();
    this.step = sampleRate / TARGET_RATE; // input samples per output sample
    this.position = 0; // fractional read position in the pending input
    this.pending = new Float32Array(0);
    this.frame = new Int16Array(FRAME_SAMPLES);
    this.filled = 0;
  }

  process(inputs) {
    const input = inputs[0];
    if (!input || input.length === 0) return true;
    const length = input[0].length;
    const mono = new Float32Array(length);
    for (const channel of input) for (let i = 0; i < length; i++) mono[i] += channel[i] / input.length;
    const joined = new Float32Array(this.pending.length + length);
    joined.set(this.pending); joined.set(mono, this.pending.length);
    let position = this.position;
    while (position + 1 < joined.length) {
      const i = Math.floor(position); const t = position - i;
      const value = joined[i] * (1 - t) + joined[i + 1] * t;
      this.frame[this.filled++] = Math.max(-32768, Math.min(32767, Math.round(value * 32767)));
      if (this.filled === FRAME_SAMPLES) {
        this.port.postMessage(this.frame.buffer.slice(0));
        this.filled = 0;
      }
      position += this.step;
    }
    const keep = Math.floor(position);
    this.pending = joined.slice(keep);
    this.position = position - keep;
    return true;
  }
}

registerProcessor('pcm-capture', PcmCapture);
