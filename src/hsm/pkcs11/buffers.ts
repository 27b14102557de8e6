// Buffers as pkcs11js passes them to a module.

// pkcs11js passes a NULL data pointer for a zero-length Buffer, and SoftHSM2 2.6.1 rejects NULL
// pData even with length 0 (CKR_ARGUMENTS_BAD). An empty view into a real allocation is non-NULL.
const EMPTY_DATA = Buffer.alloc(1).subarray(0, 0);

/** `data`, or a non-NULL empty Buffer when it is empty. */
export function nonNullData(data: Buffer): Buffer {
  return data.length === 0 ? EMPTY_DATA : data;
}
