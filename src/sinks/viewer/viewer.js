// roadseg browser viewer: speaks protocol v1 (README: "Websocket output") to the server that served it.
// Plain script, no libraries and nothing fetched from elsewhere.
'use strict';

(() => {
  const protocolVersion = 1;
  const BinaryKind = { frame: 1, classMap: 2 };
  const historyLength = 300;
  const reconnectDelaysMs = [500, 1000, 2000, 4000, 5000];

  const $ = (id) => document.getElementById(id);
  const frameCanvas = $('frame');
  const classCanvas = $('classes');
  const chartCanvas = $('chart');
  const frameContext = frameCanvas.getContext('2d');
  const classContext = classCanvas.getContext('2d');
  const chartContext = chartCanvas.getContext('2d');
  const textDecoder = new TextDecoder();

  // The page's own ?token= goes to the websocket; the page is served by the websocket's server.
  const token = new URLSearchParams(location.search).get('token');
  const socketUrl = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/${token ? `?token=${encodeURIComponent(token)}` : ''}`;

  const state = {
    socket: null,
    connection: 'connecting',
    attempts: 0,
    hello: null,
    hiddenClasses: new Set(),
    frameKind: $('frameKind').value,
    /** Latest decoded class grid: { width, height, cells, frame }. */
    classMap: null,
    decoding: false,
    /** The newest image received while the previous one was decoding. */
    pendingImage: null,
    /** { frame, drivable, corridor } per signal, oldest first. */
    history: [],
    framesShown: 0,
    framesNotDrawn: 0,
    signals: 0,
    classMaps: 0,
    shownInWindow: 0,
    signalsInWindow: 0,
    chartDirty: false,
  };

  function setConnection(name, text) {
    state.connection = name;
    const el = $('state');
    el.className = `state ${name}`;
    el.textContent = text ?? name;
  }

  function connect() {
    setConnection(state.attempts ? 'reconnecting' : 'connecting');
    const socket = new WebSocket(socketUrl);
    socket.binaryType = 'arraybuffer';
    state.socket = socket;
    socket.onopen = () => {
      state.attempts = 0;
      setConnection('connected');
    };
    socket.onmessage = (event) => {
      if (typeof event.data === 'string') onText(event.data);
      else onBinary(event.data);
    };
    socket.onclose = (event) => {
      state.socket = null;
      const delay = reconnectDelaysMs[Math.min(state.attempts, reconnectDelaysMs.length - 1)];
      state.attempts++;
      // A browser is not told why a handshake failed: a wrong token looks like a server that is down.
      if (event.code === 1000) setConnection('ended', `stream ended; reconnecting in ${delay / 1000} s`);
      else setConnection('disconnected', `disconnected (server down, or token rejected?); retrying in ${delay / 1000} s`);
      setTimeout(connect, delay);
    };
  }

  function send(message) {
    if (state.socket && state.socket.readyState === WebSocket.OPEN) state.socket.send(JSON.stringify(message));
  }

  function subscribe() {
    send({ type: 'subscribe', frames: true, frameKind: state.frameKind, signal: true, classMap: true });
  }

  function onText(text) {
    let message;
    try {
      message = JSON.parse(text);
    } catch {
      return;
    }
    if (message.v !== protocolVersion) {
      setConnection('disconnected', `unsupported protocol version ${message.v}`);
      return;
    }
    if (message.type === 'hello') onHello(message);
    else if (message.type === 'signal') onSignal(message);
    else if (message.type === 'stats') onStats(message);
    else if (message.type === 'error') console.warn('roadseg server:', message.message);
  }

  function onHello(hello) {
    state.hello = hello;
    $('info').textContent = `${hello.model} on ${hello.device} · ${hello.source.id} ${hello.source.width}×${hello.source.height} @ ${hello.source.fps.toFixed(1)} fps`;
    $('stage').style.aspectRatio = `${hello.source.width} / ${hello.source.height}`;
    buildLegend(hello);
    subscribe();
  }

  function onSignal(signal) {
    state.signals++;
    state.signalsInWindow++;
    state.history.push({ frame: signal.frame, drivable: signal.drivablePct, corridor: signal.egoCorridorPct });
    if (state.history.length > historyLength) state.history.shift();
    $('frameIndex').textContent = String(signal.frame);
    $('signalLatency').textContent = `${signal.latencyMs.toFixed(0)} ms`;
    $('chartNow').textContent = signal.drivablePct === null ? '(no picture)' : `now ${signal.drivablePct.toFixed(1)} % / ${signal.egoCorridorPct.toFixed(1)} %`;
    for (const item of $('legend').children) {
      const share = signal.histogram[item.dataset.name];
      item.querySelector('.share').textContent = share === undefined ? '' : `${(share * 100).toFixed(1)} %`;
    }
    state.chartDirty = true;
    requestAnimationFrame(drawChart);
  }

  function onStats(stats) {
    $('framesSkipped').textContent = String(stats.framesSkipped);
    $('signalsDropped').textContent = String(stats.signalsDropped);
    $('clients').textContent = String(stats.clients);
  }

  function onBinary(buffer) {
    if (buffer.byteLength < 5) return;
    const view = new DataView(buffer);
    const kind = view.getUint8(0);
    const headerLength = view.getUint32(1, true);
    if (5 + headerLength > buffer.byteLength) return;
    const header = JSON.parse(textDecoder.decode(new Uint8Array(buffer, 5, headerLength)));
    const payload = new Uint8Array(buffer, 5 + headerLength);
    if (kind === BinaryKind.frame) onImage(header, payload);
    else if (kind === BinaryKind.classMap) onClassMap(header, payload);
  }

  /** Decodes one image at a time; newer images arriving meanwhile replace each other. */
  function onImage(header, jpeg) {
    if (state.decoding) {
      if (state.pendingImage) state.framesNotDrawn++;
      state.pendingImage = { header, jpeg };
      return;
    }
    state.decoding = true;
    createImageBitmap(new Blob([jpeg], { type: header.mime }))
      .then((bitmap) => {
        if (frameCanvas.width !== bitmap.width || frameCanvas.height !== bitmap.height) {
          frameCanvas.width = bitmap.width;
          frameCanvas.height = bitmap.height;
        }
        frameContext.drawImage(bitmap, 0, 0);
        bitmap.close();
        state.framesShown++;
        state.shownInWindow++;
        $('displayLatency').textContent = `${Math.max(0, Date.now() - header.captureTime).toFixed(0)} ms`;
      })
      .catch(() => state.framesNotDrawn++)
      .finally(() => {
        state.decoding = false;
        const next = state.pendingImage;
        state.pendingImage = null;
        if (next) onImage(next.header, next.jpeg);
      });
  }

  function onClassMap(header, rle) {
    const cells = new Uint8Array(header.width * header.height);
    let o = 0;
    for (let i = 0; i + 1 < rle.length && o < cells.length; i += 2) {
      const run = Math.min(rle[i], cells.length - o);
      cells.fill(rle[i + 1], o, o + run);
      o += run;
    }
    state.classMap = { width: header.width, height: header.height, cells, frame: header.frame };
    state.classMaps++;
    drawClasses();
  }

  /** Colours the class grid from the palette; hidden classes (and void) stay transparent. */
  function drawClasses() {
    const map = state.classMap;
    const hello = state.hello;
    if (!map || !hello) return;
    if (classCanvas.width !== map.width || classCanvas.height !== map.height) {
      classCanvas.width = map.width;
      classCanvas.height = map.height;
    }
    const lut = new Uint8ClampedArray(256 * 4);
    hello.palette.forEach(([r, g, b], id) => {
      if (state.hiddenClasses.has(id)) return;
      lut.set([r, g, b, 255], id * 4);
    });
    const image = classContext.createImageData(map.width, map.height);
    const out = image.data;
    for (let i = 0, o = 0; i < map.cells.length; i++, o += 4) {
      const c = map.cells[i] * 4;
      out[o] = lut[c];
      out[o + 1] = lut[c + 1];
      out[o + 2] = lut[c + 2];
      out[o + 3] = lut[c + 3];
    }
    classContext.putImageData(image, 0, 0);
  }

  function buildLegend(hello) {
    const legend = $('legend');
    legend.replaceChildren();
    hello.classes.forEach((name, id) => {
      const item = document.createElement('li');
      item.dataset.name = name;
      const label = document.createElement('label');
      const box = document.createElement('input');
      box.type = 'checkbox';
      box.checked = !state.hiddenClasses.has(id);
      box.dataset.classId = String(id);
      box.addEventListener('change', () => {
        if (box.checked) state.hiddenClasses.delete(id);
        else state.hiddenClasses.add(id);
        drawClasses();
      });
      const swatch = document.createElement('span');
      swatch.className = 'swatch';
      const [r, g, b] = hello.palette[id] ?? [0, 0, 0];
      swatch.style.background = `rgb(${r}, ${g}, ${b})`;
      const text = document.createElement('span');
      text.className = 'name';
      text.textContent = name;
      const share = document.createElement('span');
      share.className = 'share';
      label.append(box, swatch, text, share);
      item.append(label);
      legend.append(item);
    });
  }

  function setAllClasses(visible) {
    state.hiddenClasses.clear();
    for (const box of $('legend').querySelectorAll('input')) {
      box.checked = visible;
      if (!visible) state.hiddenClasses.add(Number(box.dataset.classId));
    }
    drawClasses();
  }

  function drawChart() {
    if (!state.chartDirty) return;
    state.chartDirty = false;
    const { width, height } = chartCanvas;
    const pad = 24;
    const ctx = chartContext;
    ctx.clearRect(0, 0, width, height);
    ctx.font = '11px system-ui, sans-serif';
    ctx.lineWidth = 1;
    for (const pct of [0, 25, 50, 75, 100]) {
      const y = pad / 2 + (1 - pct / 100) * (height - pad);
      ctx.strokeStyle = '#2e3640';
      ctx.beginPath();
      ctx.moveTo(pad + 8, y);
      ctx.lineTo(width, y);
      ctx.stroke();
      ctx.fillStyle = '#8b96a3';
      ctx.fillText(String(pct), 2, y + 4);
    }
    const styles = getComputedStyle(document.documentElement);
    const series = [
      ['drivable', styles.getPropertyValue('--drivable').trim() || '#3ddc84'],
      ['corridor', styles.getPropertyValue('--corridor').trim() || '#ffb020'],
    ];
    const step = (width - pad - 8) / (historyLength - 1);
    const x0 = width - (state.history.length - 1) * step;
    ctx.lineWidth = 2;
    for (const [key, colour] of series) {
      ctx.strokeStyle = colour;
      ctx.beginPath();
      let drawing = false;
      state.history.forEach((point, i) => {
        const value = point[key];
        // Stale frames have no value: the line breaks rather than repeating the last one.
        if (value === null) {
          drawing = false;
          return;
        }
        const x = x0 + i * step;
        const y = pad / 2 + (1 - value / 100) * (height - pad);
        if (drawing) ctx.lineTo(x, y);
        else ctx.moveTo(x, y);
        drawing = true;
      });
      ctx.stroke();
    }
  }

  // Rates over the last second.
  setInterval(() => {
    $('fps').textContent = state.shownInWindow.toFixed(0);
    $('signalRate').textContent = state.signalsInWindow.toFixed(0);
    $('framesNotDrawn').textContent = String(state.framesNotDrawn);
    state.shownInWindow = 0;
    state.signalsInWindow = 0;
  }, 1000);

  $('opacity').addEventListener('input', (event) => {
    const value = event.target.value;
    classCanvas.style.opacity = value;
    $('opacityValue').textContent = Number(value).toFixed(2);
  });
  $('frameKind').addEventListener('change', (event) => {
    state.frameKind = event.target.value;
    subscribe();
  });
  $('allClasses').addEventListener('click', () => setAllClasses(true));
  $('noClasses').addEventListener('click', () => setAllClasses(false));

  // For people debugging in the console, and for the tests: counters only, read-only copies.
  window.roadsegViewer = Object.freeze({
    snapshot: () => ({
      connection: state.connection,
      framesShown: state.framesShown,
      framesNotDrawn: state.framesNotDrawn,
      signals: state.signals,
      classMaps: state.classMaps,
      history: state.history.length,
      classMapFrame: state.classMap ? state.classMap.frame : null,
      hiddenClasses: [...state.hiddenClasses],
    }),
  });

  connect();
})();
