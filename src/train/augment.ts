/**
 * Training-time augmentation, seeded: a random horizontal flip and a random
 * crop after zero padding (the CIFAR recipe: pad 4, crop back to the size),
 * applied to each image of a batch as it is gathered. Off by default; the
 * same seed gives the same flips and offsets, so training stays repeatable.
 */
import seedrandom from 'seedrandom';

export interface Augmentation {
  /** Mirror each image left to right with probability 1/2. */
  flip: boolean;
  /** Pad each side with this many zero pixels, then crop a random window of the image's size (0: no crop). */
  cropPadding: number;
}

/** No augmentation: what training does unless a config asks. */
export const NO_AUGMENTATION: Augmentation = { flip: false, cropPadding: 0 };

export const augments = (a: Augmentation | undefined): a is Augmentation => a !== undefined && (a.flip || a.cropPadding > 0);

/**
 * Augments `count` NHWC images in place (pixel bytes or floats; padding is
 * zero in the images' own units), each drawn from `seed`'s generator in
 * batch order.
 */
export function augmentInPlace(
  images: Uint8Array | Float32Array,
  count: number,
  [height, width, channels]: [number, number, number],
  augmentation: Augmentation,
  seed: string,
): void {
  const rng = seedrandom(seed);
  const perImage = height * width * channels;
  const source = images.slice(0, perImage); // one image's scratch
  const pad = augmentation.cropPadding;
  for (let i = 0; i < count; i++) {
    const flip = augmentation.flip && rng() < 0.5;
    // The crop window's offset in the padded image, 0..2 pad: the output pixel (y, x) reads (y + dy - pad, x + dx - pad), zero outside.
    const dy = pad > 0 ? Math.floor(rng() * (2 * pad + 1)) - pad : 0;
    const dx = pad > 0 ? Math.floor(rng() * (2 * pad + 1)) - pad : 0;
    if (!flip && dy === 0 && dx === 0) continue;
    const image = images.subarray(i * perImage, (i + 1) * perImage);
    source.set(image);
    for (let y = 0; y < height; y++) {
      const sy = y + dy;
      for (let x = 0; x < width; x++) {
        const sx = (flip ? width - 1 - x : x) + dx;
        const out = (y * width + x) * channels;
        const inside = sy >= 0 && sy < height && sx >= 0 && sx < width;
        for (let c = 0; c < channels; c++) image[out + c] = inside ? source[(sy * width + sx) * channels + c] : 0;
      }
    }
  }
}
