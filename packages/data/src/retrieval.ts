/**
 * Image–text retrieval targets when each image has several captions, as in CLIP's Flickr30k / MSCOCO protocol
 * (Radford et al. 2021, sec. 3.1.4 and table 13): the candidates are the distinct caption texts; image → text
 * hits when any of the image's captions is retrieved, text → image when any image the text describes is.
 *
 *   texts       the U distinct captions, in order of first appearance
 *   captionsOf  image i → the indices u of its captions          (targets for image → text)
 *   imagesOf    text u → the images it describes                 (targets for text → image)
 */

export interface RetrievalTargets {
  texts: string[];
  captionsOf: number[][];
  imagesOf: number[][];
}

/** The distinct texts of `allCaptions` (image i → its captions) and the right answers in both directions. */
export function retrievalTargets(allCaptions: readonly (readonly string[])[]): RetrievalTargets {
  const texts = [...new Set(allCaptions.flat())];
  const textIndex = new Map(texts.map((t, u) => [t, u]));
  const captionsOf = allCaptions.map((all) =>
    all.map((c) => {
      const u = textIndex.get(c);
      if (u === undefined) throw new Error(`retrievalTargets: caption "${c}" is not among the texts`);
      return u;
    }),
  );
  const imagesOf = texts.map((): number[] => []);
  captionsOf.forEach((us, i) =>
    us.forEach((u) => {
      const images = imagesOf[u];
      if (!images) throw new Error(`retrievalTargets: text ${u} is out of range`);
      images.push(i);
    }),
  );
  return { texts, captionsOf, imagesOf };
}
