/** What analysing one label map yields: the types stages produce and the signal, sinks and CLI read. */
import type { LabelMap } from './labelmap.js';

/**
 * The ego corridor: a trapezoid ahead of the vehicle, in fractions of the image size
 * (x of its centre line, y of its top and bottom edges, widths at top and bottom).
 */
export interface EgoCorridor {
  centerX: number;
  topY: number;
  bottomY: number;
  topWidth: number;
  bottomWidth: number;
}

/** The vehicle's own hood (bonnet) at the bottom of the frame. */
export interface Hood {
  /** Where the hood starts, as a fraction of the height from the top (its highest point; 1: none). */
  y: number;
  /** The hood's top edge per column, fractions of the height, at any horizontal resolution. */
  edge: Float32Array;
}

export interface ClassHistogram {
  /** Pixel count per class id (index = trainId). */
  counts: number[];
  /** Pixels of no class (void, 255, or ids outside the class list). */
  voidCount: number;
  total: number;
}

export interface RoadEdges {
  /** 0/1 per pixel, row-major, same size as the mask. */
  edgeMask: Uint8Array;
  /**
   * Per image row, the x of the left and right road boundary of the road ahead (the road run that
   * contains the corridor's centre column, else the widest run in the row), or -1 where the row
   * has no road or the run reaches the image border (no edge is visible there).
   */
  left: Int32Array;
  right: Int32Array;
}

export interface FrameAnalysis {
  /** The label map analysed (the model's output, possibly downsampled). */
  labels: LabelMap;
  drivableFraction: number;
  egoFraction: number;
  histogram: ClassHistogram;
  /** Road edges of the drivable area (the drivable head's where one ran, else the road classes'). */
  edges: RoadEdges;
  /** The vehicle's hood left out of the figures. */
  hood: Hood;
  /** Per column of the label map, the first row of the hood (the map's height where there is none). */
  hoodTop: Int32Array;
  /** Per column band, the top of the drivable run above the hood, fraction of the height (see freeSpace). */
  freeSpace: number[];
  /** 0/1 per pixel of `labels`' size: the area a drivable head found, where one ran. */
  drivableHead?: Uint8Array;
  /** 0/1 per pixel of `labels`' size: lane lines, where a lanes head ran. */
  laneMask?: Uint8Array;
  /** Nearest lane line left and right of the corridor centre at the reported rows, where a lanes head ran. */
  lanes?: EdgeSample[];
}

/** Road boundary at one reported row: x as a fraction of the width, null where there is none. */
export interface EdgeSample {
  y: number;
  left: number | null;
  right: number | null;
}

/** The machine-readable part shared by the segment summary and the signal. */
export interface DrivableSummary {
  drivablePct: number;
  egoCorridorPct: number;
  roadEdges: EdgeSample[];
  /** Where a lanes head ran: at the rows of `roadEdges`, the nearest lane line left and right of the corridor centre. */
  lanes?: EdgeSample[];
  histogram: Record<string, number>;
  /** Fraction of the height where the vehicle's hood starts; 1 when there is none. */
  hoodY: number;
  /** Per column band (left to right), how far up the drivable surface reaches, fraction of the height. */
  freeSpace: number[];
  /** How sure the drivable fields are, 0..1; null for a model without a class head (binary heads only). */
  confidence: number | null;
  camera: CameraHealth;
  /** 'ok'; 'low-confidence' below the configured confidence; 'camera-fault' when the camera cannot see. */
  status: 'ok' | 'low-confidence' | 'camera-fault';
}

export const cameraConditions = ['ok', 'frozen', 'dark', 'washed-out', 'blurred'] as const;
export type CameraCondition = (typeof cameraConditions)[number];

/** What the picture itself says about the camera. */
export interface CameraHealth {
  condition: CameraCondition;
  /** Mean brightness, grey levels 0..255. */
  luma: number;
  /** Variance of the Laplacian over the road region, grey levels squared, on a 320-pixel-wide grey copy. */
  sharpness: number;
  /** Consecutive earlier frames this one is the same picture as. */
  stillFrames: number;
}
