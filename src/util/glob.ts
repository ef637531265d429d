/**
 * Minimal glob: `*` and `?` in the last path component only (dir/*.png). Here rather than beside
 * the image sources so that `roadseg submit` expands globs without loading OpenCV.
 */
export function globToRegExp(pattern: string): RegExp {
  const escaped = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]');
  return new RegExp(`^${escaped}$`);
}
