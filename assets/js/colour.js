// The text colour that reads on a key of colour `hex` (#rrggbb): dark on
// light keys, white on dark ones (relative luminance, WCAG).
export function inkOn(hex) {
  const channel = (i) => {
    const c = parseInt(hex.slice(i, i + 2), 16) / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  };
  const luminance = 0.2126 * channel(1) + 0.7152 * channel(3) + 0.0722 * channel(5);
  return luminance > 0.35 ? "#111" : "#fff";
}
