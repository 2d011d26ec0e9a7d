/**
 * XDR (RFC 4506), the encoding of libvirt's payloads, over braid's buffers: {@link dev.braid.xdr.XdrReader}
 * and {@link dev.braid.xdr.XdrWriter} read and write every XDR type at a {@link java.nio.ByteBuffer}'s
 * position (bounded by {@link dev.braid.xdr.XdrLimits}, allocation-free for primitives), and
 * {@link dev.braid.xdr.XdrCodec}s compose them into structs, arrays, optionals and unions that plug into
 * typed procedures ({@link dev.braid.ProcedureDescriptor}) as {@link dev.braid.Marshaller}s.
 */
package dev.braid.xdr;
