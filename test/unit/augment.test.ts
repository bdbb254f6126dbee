import { describe, expect, it } from 'vitest';
import { augmentInPlace } from '../../src/train/augment.js';

/** Two 3x4 images of 2 channels whose pixel (y, x, c) holds 100 * image + 10 * y + x (+ 50 for c = 1). */
const images = () =>
  Uint8Array.from({ length: 2 * 3 * 4 * 2 }, (_, i) => 100 * Math.floor(i / 24) + 10 * Math.floor((i % 24) / 8) + (Math.floor(i / 2) % 4) + 50 * (i % 2));
const pixel = (a: Uint8Array, image: number, y: number, x: number, c: number) => a[image * 24 + (y * 4 + x) * 2 + c];

describe('augmentation', () => {
  it('flips and shifts each image by its own seeded draw, zero outside, the same draws for the same seed', () => {
    const seen = new Set<string>();
    for (let s = 0; s < 40; s++) {
      const a = images();
      augmentInPlace(a, 2, [3, 4, 2], { flip: true, cropPadding: 1 }, `seed-${s}`);
      const again = images();
      augmentInPlace(again, 2, [3, 4, 2], { flip: true, cropPadding: 1 }, `seed-${s}`);
      expect(again).toEqual(a);
      for (let image = 0; image < 2; image++) {
        // Every pixel is the original at one shift and flip, or 0 where the window leaves the image.
        const fits = [false, true].flatMap((flip) =>
          [-1, 0, 1].flatMap((dy) =>
            [-1, 0, 1]
              .map((dx) => ({ flip, dy, dx }))
              .filter(({ flip, dy, dx }) => {
                for (let y = 0; y < 3; y++)
                  for (let x = 0; x < 4; x++)
                    for (let c = 0; c < 2; c++) {
                      const [sy, sx] = [y + dy, (flip ? 3 - x : x) + dx];
                      const want = sy >= 0 && sy < 3 && sx >= 0 && sx < 4 ? 100 * image + 10 * sy + sx + 50 * c : 0;
                      if (pixel(a, image, y, x, c) !== want) return false;
                    }
                return true;
              }),
          ),
        );
        expect(fits.length).toBeGreaterThanOrEqual(1);
        seen.add(JSON.stringify(fits[0]));
      }
    }
    // Over 80 images, flips and every offset turn up.
    expect(seen.size).toBeGreaterThanOrEqual(12);
  });

  it('leaves images alone when asked for nothing', () => {
    const a = images();
    augmentInPlace(a, 2, [3, 4, 2], { flip: false, cropPadding: 0 }, 'any');
    expect(a).toEqual(images());
  });
});
