// Reading QR codes from the device camera: the browser's BarcodeDetector
// where it has one, else the vendored jsQR decoder (web/vendor/jsqr.js,
// Apache-2.0, licence beside it), loaded only when first needed.

let jsqrLoading = null;

/** Loads the vendored jsQR (a classic script that sets window.jsQR). */
function loadJsQR() {
  jsqrLoading ??= new Promise((resolve, reject) => {
    const script = document.createElement('script');
    script.src = '/web/vendor/jsqr.js';
    script.onload = () => (window.jsQR ? resolve(window.jsQR) : reject(new Error('jsQR did not load')));
    script.onerror = () => reject(new Error('could not load the QR decoder'));
    document.head.append(script);
  });
  return jsqrLoading;
}

/** The pixel size of a video frame, an image or a canvas. */
const sizeOf = (source) => [
  source.videoWidth || source.naturalWidth || source.width || 0,
  source.videoHeight || source.naturalHeight || source.height || 0,
];

let chosen = null;

/** {name, read(source) → code|null} for the best decoder this browser has (chosen once). */
function decoder() {
  chosen ??= (async () => {
    if ('BarcodeDetector' in window) {
      try {
        const formats = await window.BarcodeDetector.getSupportedFormats();
        if (formats.includes('qr_code')) {
          const detector = new window.BarcodeDetector({ formats: ['qr_code'] });
          return { name: 'BarcodeDetector', read: async (source) => (await detector.detect(source))[0]?.rawValue ?? null };
        }
      } catch { /* fall back to jsQR */ }
    }
    const jsQR = await loadJsQR();
    const canvas = document.createElement('canvas');
    const ctx = canvas.getContext('2d', { willReadFrequently: true });
    return {
      name: 'jsQR',
      read: async (source) => {
        const [w, h] = sizeOf(source);
        if (!w || !h) return null;
        canvas.width = w;
        canvas.height = h;
        ctx.fillStyle = '#fff'; // a transparent image reads as black
        ctx.fillRect(0, 0, w, h);
        ctx.drawImage(source, 0, 0, w, h);
        const image = ctx.getImageData(0, 0, w, h);
        return jsQR(image.data, w, h, { inversionAttempts: 'dontInvert' })?.data ?? null;
      },
    };
  })();
  return chosen;
}

/** The QR code in one image, canvas or video frame, or null; and the decoder's name. */
export async function readCode(source) {
  const read = await decoder();
  return { code: await read.read(source), decoder: read.name };
}

/**
 * Starts the rear camera in `video` and calls `onCode(code)` for each code
 * read (the same code is not repeated within `quietMs`). Returns stop().
 */
export async function startScanner(video, onCode, { quietMs = 3000, onDecoder = () => {} } = {}) {
  const stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment' }, audio: false });
  video.srcObject = stream;
  video.hidden = false;
  await video.play();
  const read = await decoder();
  onDecoder(read.name);
  let stopped = false;
  let last = { code: null, at: 0 };
  const tick = async () => {
    if (stopped) return;
    try {
      const code = await read.read(video);
      if (code && (code !== last.code || Date.now() - last.at > quietMs)) {
        last = { code, at: Date.now() };
        onCode(code);
      }
    } catch { /* a frame that could not be read */ }
    setTimeout(tick, 200);
  };
  tick();
  return () => {
    stopped = true;
    for (const track of stream.getTracks()) track.stop();
    video.srcObject = null;
    video.hidden = true;
  };
}
