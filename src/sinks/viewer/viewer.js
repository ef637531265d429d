// roadseg browser viewer: speaks protocol v1 (docs/signal.md, "Websocket protocol") to the server that served it.
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
    /** { frame, drivable, corridor, confidence } per signal, oldest first. */
    history: [],
    framesShown: 0,
    framesNotDrawn: 0,
    signals: 0,
    classMaps: 0,
    shownInWindow: 0,
    signalsInWindow: 0,
    chartDirty: false,
    /** The user moved the opacity slider (then a reconnect's hello does not reset it). */
    opacityChosen: false,
    /** The source shown enlarged (its images, class map and signal); the others are tiles. */
    selected: null,
    /** Per source id of a run with several: its tile's canvas and whether it is decoding. */
    tiles: new Map(),
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
    // The server's overlay opacity is the starting value (older servers do not send it).
    if (typeof hello.opacity === 'number' && !state.opacityChosen) setOpacity(hello.opacity);
    const sources = hello.sources ?? [hello.source];
    if (!sources.some((s) => s.id === state.selected)) state.selected = sources[0].id;
    buildTiles(sources);
    select(state.selected);
    buildLegend(hello);
    subscribe();
  }

  /** A run with several sources: one tile per source, side by side; a click enlarges its source. */
  function buildTiles(sources) {
    const strip = $('sources');
    strip.replaceChildren();
    state.tiles.clear();
    strip.hidden = sources.length < 2;
    if (sources.length < 2) return;
    for (const s of sources) {
      const figure = document.createElement('figure');
      figure.dataset.source = s.id;
      const canvas = document.createElement('canvas');
      canvas.width = 320;
      canvas.height = Math.round((320 * s.height) / s.width);
      const caption = document.createElement('figcaption');
      caption.textContent = s.id;
      figure.append(canvas, caption);
      figure.addEventListener('click', () => select(s.id));
      strip.append(figure);
      state.tiles.set(s.id, { canvas, decoding: false });
    }
  }

  function select(id) {
    const hello = state.hello;
    const s = (hello.sources ?? [hello.source]).find((x) => x.id === id) ?? hello.source;
    if (state.selected !== s.id) {
      state.history = [];
      state.classMap = null;
      drawClasses();
    }
    state.selected = s.id;
    for (const f of $('sources').children) f.classList.toggle('selected', f.dataset.source === s.id);
    $('info').textContent = `${hello.model} on ${hello.device} · ${s.id} ${s.width}×${s.height} @ ${s.fps.toFixed(1)} fps`;
    $('stage').style.aspectRatio = `${s.width} / ${s.height}`;
  }

  /** Of a run with several sources: the frame is not the enlarged source's. */
  const elsewhere = (source) => source !== undefined && state.selected !== null && source !== state.selected;

  function onSignal(signal) {
    if (elsewhere(signal.source)) return;
    state.signals++;
    state.signalsInWindow++;
    const confidence = typeof signal.confidence === 'number' ? signal.confidence * 100 : null;
    state.history.push({ frame: signal.frame, drivable: signal.drivablePct, corridor: signal.egoCorridorPct, confidence });
    showOptionalFields(signal);
    if (signal.status === 'low-confidence') setConnection('low-confidence', 'connected · low confidence');
    else if (state.connection === 'low-confidence') setConnection('connected');
    if (state.history.length > historyLength) state.history.shift();
    $('frameIndex').textContent = String(signal.frame);
    $('signalLatency').textContent = `${signal.latencyMs.toFixed(0)} ms`;
    $('chartNow').textContent = signal.drivablePct === null ? '(no picture)' : `now ${signal.drivablePct.toFixed(1)} % / ${signal.egoCorridorPct.toFixed(1)} %`;
    $('confidenceKey').hidden = confidence === null;
    for (const item of $('legend').children) {
      const share = signal.histogram[item.dataset.name];
      item.querySelector('.share').textContent = share === undefined ? '' : `${(share * 100).toFixed(1)} %`;
    }
    state.chartDirty = true;
    requestAnimationFrame(drawChart);
  }

  /** Fields newer servers add to the signal; each is shown only when present. */
  const optionalFields = {
    confidence: (v) => (typeof v === 'number' ? `${(v * 100).toFixed(0)} %` : null),
    lanes: (v) => (Array.isArray(v) ? String(v.length) : v && typeof v.count === 'number' ? String(v.count) : null),
    // Per column band, how far up the drivable surface reaches (fraction of the height, 0 = top).
    freeSpace: (v) => (Array.isArray(v) && v.length ? `reaches ${(Math.min(...v) * 100).toFixed(0)}–${(Math.max(...v) * 100).toFixed(0)} % from the top (${v.length} bands)` : null),
    hoodY: (v) => (typeof v === 'number' ? (v <= 1 ? `${(v * 100).toFixed(0)} % of height` : `row ${v.toFixed(0)}`) : null),
    camera: (v) => (typeof v === 'string' ? v : v && typeof v === 'object' ? Object.entries(v).map(([k, x]) => `${k} ${typeof x === 'number' ? +x.toFixed(2) : x}`).join(', ') : null),
  };

  function showOptionalFields(signal) {
    for (const [field, format] of Object.entries(optionalFields)) {
      const text = field in signal ? format(signal[field]) : null;
      const dd = $(field);
      dd.hidden = text === null;
      document.querySelector(`dt[data-field="${field}"]`).hidden = text === null;
      if (text !== null) dd.textContent = text;
    }
    // The hood line: a fraction of the height (<= 1) or a row of the source image.
    const hood = $('hood');
    const y = signal.hoodY;
    const fraction = typeof y === 'number' && state.hello ? (y <= 1 ? y : y / state.hello.source.height) : null;
    hood.hidden = fraction === null || fraction <= 0 || fraction >= 1;
    if (!hood.hidden) hood.style.top = `${(fraction * 100).toFixed(2)}%`;
  }

  function setOpacity(value) {
    $('opacity').value = String(value);
    classCanvas.style.opacity = String(value);
    $('opacityValue').textContent = Number(value).toFixed(2);
  }

  /**
   * In server-overlay mode the image already has the class colours, so the page draws no second
   * colouring: the class canvas is hidden and the legend is for reference only.
   */
  function applyFrameKind() {
    const serverOverlay = state.frameKind === 'overlay';
    $('stage').classList.toggle('server-overlay', serverOverlay);
    $('legend').classList.toggle('reference', serverOverlay);
    $('opacityControl').hidden = serverOverlay;
    $('overlayNote').hidden = !serverOverlay;
  }

  /** What is shown (image, and the class colours the page draws), as a PNG download. */
  function snapshot() {
    const canvas = document.createElement('canvas');
    canvas.width = frameCanvas.width;
    canvas.height = frameCanvas.height;
    const ctx = canvas.getContext('2d');
    ctx.drawImage(frameCanvas, 0, 0);
    if (state.frameKind !== 'overlay' && state.classMap) {
      ctx.globalAlpha = Number($('opacity').value);
      ctx.imageSmoothingEnabled = false;
      ctx.drawImage(classCanvas, 0, 0, canvas.width, canvas.height);
    }
    canvas.toBlob((blob) => {
      if (!blob) return;
      const link = document.createElement('a');
      link.href = URL.createObjectURL(blob);
      link.download = `roadseg-frame-${state.classMap ? state.classMap.frame : 'snapshot'}.png`;
      link.click();
      setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
    }, 'image/png');
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

  /** A tile's image: decoded when the tile is free, dropped otherwise (tiles are small and many). */
  function onTileImage(header, jpeg) {
    const tile = state.tiles.get(header.source);
    if (!tile || tile.decoding) return;
    tile.decoding = true;
    createImageBitmap(new Blob([jpeg], { type: header.mime }))
      .then((bitmap) => {
        tile.canvas.getContext('2d').drawImage(bitmap, 0, 0, tile.canvas.width, tile.canvas.height);
        bitmap.close();
      })
      .catch(() => {})
      .finally(() => (tile.decoding = false));
  }

  function onImage(header, jpeg) {
    if (state.tiles.size) onTileImage(header, jpeg);
    if (!elsewhere(header.source)) showImage(header, jpeg);
  }

  /** Decodes one image at a time; newer images arriving meanwhile replace each other. */
  function showImage(header, jpeg) {
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
        if (next) showImage(next.header, next.jpeg);
      });
  }

  function onClassMap(header, rle) {
    if (elsewhere(header.source)) return;
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
      ['confidence', styles.getPropertyValue('--confidence').trim() || '#4dabf7'],
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
        if (value === null || value === undefined) {
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
    state.opacityChosen = true;
    setOpacity(event.target.value);
  });
  $('frameKind').addEventListener('change', (event) => {
    state.frameKind = event.target.value;
    applyFrameKind();
    subscribe();
  });
  $('snapshot').addEventListener('click', snapshot);
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
      classesDrawn: getComputedStyle(classCanvas).display !== 'none',
      opacity: Number($('opacity').value),
    }),
  });

  applyFrameKind();
  connect();
})();
