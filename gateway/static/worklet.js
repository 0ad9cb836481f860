// AudioWorklet: the microphone's float samples, mixed to mono, resampled to 16 kHz and cut into
// 100 ms Int16 frames. Above 16 kHz a windowed-sinc low-pass (cut-off 7.2 kHz) is applied at
// each output point first, so downsampling does not fold high frequencies into speech.
const TARGET_RATE = 16000;
const FRAME_SAMPLES = 1600; // 100 ms at 16 kHz
const TAPS = 31; // odd: centred on the output point

function lowPass(cutoffHz, rateHz) {
  const taps = new Float32Array(TAPS);
  const fc = cutoffHz / rateHz;
  let sum = 0;
  for (let k = 0; k < TAPS; k++) {
    const n = k - (TAPS - 1) / 2;
    const sinc = n === 0 ? 2 * fc : Math.sin(2 * Math.PI * fc * n) / (Math.PI * n);
    const window = 0.54 - 0.46 * Math.cos((2 * Math.PI * k) / (TAPS - 1)); // Hamming
    taps[k] = sinc * window;
    sum += taps[k];
  }
  for (let k = 0; k < TAPS; k++) taps[k] /= sum;
  return taps;
}

class PcmCapture extends AudioWorkletProcessor {
  constructor() {
    super();
    this.step = sampleRate / TARGET_RATE; // input samples per output sample
    this.taps = this.step > 1 ? lowPass(7200, sampleRate) : null;
    this.half = this.taps ? (TAPS - 1) / 2 : 0;
    this.position = this.half; // fractional read position in the pending input
    this.pending = new Float32Array(this.half); // history for the filter (silence at first)
    this.frame = new Int16Array(FRAME_SAMPLES);
    this.filled = 0;
  }

  sampleAt(data, position) {
    if (!this.taps) {
      const i = Math.floor(position); const t = position - i;
      return data[i] * (1 - t) + data[i + 1] * t;
    }
    const centre = Math.round(position);
    let value = 0;
    for (let k = 0; k < TAPS; k++) value += this.taps[k] * data[centre - this.half + k];
    return value;
  }

  process(inputs) {
    const input = inputs[0];
    if (!input || input.length === 0) return true;
    const length = input[0].length;
    const joined = new Float32Array(this.pending.length + length);
    joined.set(this.pending);
    for (const channel of input) {
      for (let i = 0; i < length; i++) joined[this.pending.length + i] += channel[i] / input.length;
    }
    let position = this.position;
    while (Math.round(position) + this.half + 1 < joined.length) {
      const value = this.sampleAt(joined, position);
      this.frame[this.filled++] = Math.max(-32768, Math.min(32767, Math.round(value * 32767)));
      if (this.filled === FRAME_SAMPLES) {
        this.port.postMessage(this.frame.buffer.slice(0));
        this.filled = 0;
      }
      position += this.step;
    }
    const keep = Math.max(0, Math.floor(position) - this.half);
    this.pending = joined.slice(keep);
    this.position = position - keep;
    return true;
  }
}

registerProcessor('pcm-capture', PcmCapture);
