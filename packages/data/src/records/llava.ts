/**
 * LLaVA's instruction data (haotian-liu/LLaVA, `llava_v1_5_mix665k.json`, read by llava/train/train.py's
 * `LazySupervisedDataset`): one JSON array of records
 *
 *   {"id": "000000033471", "image": "coco/train2017/000000033471.jpg",
 *    "conversations": [{"from": "human", "value": "<image>\nWhat are the colors of the bus?"},
 *                      {"from": "gpt", "value": "The bus is white and red."}, …]}
 *
 *   id             a string or a number
 *   image          optional: a path relative to the image folder (LLaVA's `--image_folder`); a text-only record
 *                  has none. A list of paths (LLaVA-OneVision's multi-image records) is accepted too.
 *   conversations  turns whose `from` alternates "human", "gpt", starting with "human": `preprocess` in train.py
 *                  maps only these two names to the template's roles and asserts the alternation
 *                  (`role == conv.roles[j % 2]`)
 *
 * Every `<image>` (llava/constants.py `DEFAULT_IMAGE_TOKEN`) in any turn is one image's place
 * (train.py `preprocess_multimodal`), so their count must equal the number of images. Other fields are kept.
 */
import { checkRoles, countImageTokens, FieldFault, need, needObjects, needStringOrNumber } from "./check.js";
import type { FormatSpec, JsonObject } from "./check.js";

export interface LlavaTurn {
  from: "human" | "gpt";
  value: string;
}

export interface LlavaRecord {
  id: string | number;
  image?: string | string[];
  conversations: LlavaTurn[];
  [extra: string]: unknown;
}

const LLAVA_ROLES = [["human"], ["gpt"]] as const;

function validateLlava(row: JsonObject): LlavaRecord {
  needStringOrNumber(row, "id");
  if (Object.hasOwn(row, "image")) {
    const image = need(row, "image");
    const list: unknown[] = Array.isArray(image) ? image : [image];
    if (Array.isArray(image) && image.length === 0) throw new FieldFault("invalid-value", "image", "is an empty list");
    list.forEach((p, i) => {
      const field = Array.isArray(image) ? `image[${i}]` : "image";
      if (typeof p !== "string")
        throw new FieldFault("wrong-type", field, `expected a path (a string), got ${JSON.stringify(p)}`);
      if (p === "") throw new FieldFault("invalid-value", field, "is an empty path");
    });
  }
  const turns = needObjects(row, "conversations");
  checkRoles(turns, "conversations", "from", "value", (i) => LLAVA_ROLES[i % 2] ?? []);
  return row as LlavaRecord;
}

/** The image paths of a LLaVA record (none for a text-only one). */
export function llavaImages(rec: LlavaRecord): string[] {
  if (rec.image === undefined) return [];
  return typeof rec.image === "string" ? [rec.image] : rec.image;
}

export const llavaFormat: FormatSpec<LlavaRecord> = {
  container: "json",
  validate: validateLlava,
  images: llavaImages,
  imageTokens: (rec) => rec.conversations.reduce((n, t) => n + countImageTokens(t.value), 0),
  textField: "conversations",
  imageField: (rec, i) => (Array.isArray(rec.image) ? `image[${i}]` : "image"),
};
