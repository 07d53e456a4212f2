using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.InteropServices;

namespace RegPS.Engine.IO;

/// <summary>Linear scaling of stored values: value = raw * Slope + Inter (nibabel's rule for when it applies).</summary>
internal readonly record struct Scaling(double Slope, double Inter)
{
    public static readonly Scaling None = new(1, 0);
    public bool IsIdentity => Slope == 1 && Inter == 0;

    /// <summary>
    /// nibabel's get_slope_inter: a slope of 0 or a non-finite slope means no scaling; a valid slope with a non-finite
    /// intercept is an error (returns null).
    /// </summary>
    public static Scaling? FromHeader(double slope, double inter)
    {
        if (slope == 0 || !double.IsFinite(slope)) return None;
        if (!double.IsFinite(inter)) return null;
        return new Scaling(slope, inter);
    }
}

/// <summary>Conversion between stored voxels (any NIfTI type, either byte order) and float32.</summary>
internal static class VoxelCodec
{
    /// <summary>
    /// Converts raw.Length / type.Bytes stored voxels to float32 in <paramref name="dst"/>, applying the scaling.
    /// <paramref name="raw"/> is used as scratch (swapped in place when the byte order differs from the machine's).
    /// Colour types give luminance 0.299 R + 0.587 G + 0.114 B; their planes are extracted by <see cref="ExtractColour"/>.
    /// </summary>
    public static void Decode(Span<byte> raw, Span<float> dst, NiftiType type, bool bigEndian, Scaling scaling)
    {
        int n = raw.Length / type.Bytes;
        if (dst.Length < n) throw new ArgumentException("Destination too short.", nameof(dst));
        dst = dst[..n];
        raw = raw[..(n * type.Bytes)];
        if (bigEndian == BitConverter.IsLittleEndian && type.Bytes > 1 && !type.IsColour)
            Swap(raw, type.Bytes);
        bool scale = !scaling.IsIdentity && !type.IsColour;
        switch (type.Kind)
        {
            case VoxelKind.UInt8: FromUInt8(raw, dst); break;
            case VoxelKind.Int8: FromInt8(MemoryMarshal.Cast<byte, sbyte>(raw), dst); break;
            case VoxelKind.Int16: FromInt16(MemoryMarshal.Cast<byte, short>(raw), dst); break;
            case VoxelKind.UInt16: FromUInt16(MemoryMarshal.Cast<byte, ushort>(raw), dst); break;
            case VoxelKind.Float32: MemoryMarshal.Cast<byte, float>(raw).CopyTo(dst); break;
            case VoxelKind.Int32:
                if (scale) { ScaleDouble(MemoryMarshal.Cast<byte, int>(raw), dst, scaling); return; }
                FromInt32(MemoryMarshal.Cast<byte, int>(raw), dst); break;
            case VoxelKind.UInt32:
                if (scale) { ScaleDouble(MemoryMarshal.Cast<byte, uint>(raw), dst, scaling); return; }
                FromUInt32(MemoryMarshal.Cast<byte, uint>(raw), dst); break;
            case VoxelKind.Int64:
                if (scale) { ScaleDouble(MemoryMarshal.Cast<byte, long>(raw), dst, scaling); return; }
                { var s = MemoryMarshal.Cast<byte, long>(raw); for (int i = 0; i < s.Length; i++) dst[i] = (float)(double)s[i]; }
                break;
            case VoxelKind.UInt64:
                if (scale) { ScaleDouble(MemoryMarshal.Cast<byte, ulong>(raw), dst, scaling); return; }
                { var s = MemoryMarshal.Cast<byte, ulong>(raw); for (int i = 0; i < s.Length; i++) dst[i] = (float)(double)s[i]; }
                break;
            case VoxelKind.Float64:
                if (scale) { ScaleDouble(MemoryMarshal.Cast<byte, double>(raw), dst, scaling); return; }
                FromFloat64(MemoryMarshal.Cast<byte, double>(raw), dst); break;
            case VoxelKind.Rgb24:
            case VoxelKind.Rgba32:
                Luminance(raw, dst, type.Bytes); break;
            default: throw new InvalidOperationException(type.Name);
        }
        if (scale) ApplyScaling(dst, scaling);
    }

    /// <summary>Copies the R, G, B bytes of <paramref name="raw"/> (rgb24 or rgba32) into three planes at an offset.</summary>
    public static void ExtractColour(ReadOnlySpan<byte> raw, int bytesPerVoxel, float[] planes, int planeSize, int offset)
    {
        int n = raw.Length / bytesPerVoxel;
        for (int i = 0; i < n; i++)
        {
            int o = i * bytesPerVoxel;
            planes[offset + i] = raw[o];
            planes[planeSize + offset + i] = raw[o + 1];
            planes[2 * planeSize + offset + i] = raw[o + 2];
        }
    }

    private static void Swap(Span<byte> raw, int bytes)
    {
        switch (bytes)
        {
            case 2: { var s = MemoryMarshal.Cast<byte, ushort>(raw); BinaryPrimitives.ReverseEndianness(s, s); break; }
            case 4: { var s = MemoryMarshal.Cast<byte, uint>(raw); BinaryPrimitives.ReverseEndianness(s, s); break; }
            case 8: { var s = MemoryMarshal.Cast<byte, ulong>(raw); BinaryPrimitives.ReverseEndianness(s, s); break; }
        }
    }

    private static void Luminance(ReadOnlySpan<byte> raw, Span<float> dst, int bpv)
    {
        for (int i = 0; i < dst.Length; i++)
        {
            int o = i * bpv;
            dst[i] = (float)(0.299 * raw[o] + 0.587 * raw[o + 1] + 0.114 * raw[o + 2]);
        }
    }

    private static void FromUInt8(ReadOnlySpan<byte> s, Span<float> d)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated && s.Length >= Vector<byte>.Count)
        {
            int w = Vector<byte>.Count;
            var sv = MemoryMarshal.Cast<byte, Vector<byte>>(s);
            var dv = MemoryMarshal.Cast<float, Vector<float>>(d);
            for (int k = 0; k < sv.Length; k++)
            {
                Vector.Widen(sv[k], out Vector<ushort> lo, out Vector<ushort> hi);
                Vector.Widen(lo, out Vector<uint> a, out Vector<uint> b);
                Vector.Widen(hi, out Vector<uint> c, out Vector<uint> e);
                int o = k * 4;
                dv[o] = Vector.ConvertToSingle(Vector.AsVectorInt32(a));
                dv[o + 1] = Vector.ConvertToSingle(Vector.AsVectorInt32(b));
                dv[o + 2] = Vector.ConvertToSingle(Vector.AsVectorInt32(c));
                dv[o + 3] = Vector.ConvertToSingle(Vector.AsVectorInt32(e));
            }
            i = sv.Length * w;
        }
        for (; i < s.Length; i++) d[i] = s[i];
    }

    private static void FromInt8(ReadOnlySpan<sbyte> s, Span<float> d)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated && s.Length >= Vector<sbyte>.Count)
        {
            var sv = MemoryMarshal.Cast<sbyte, Vector<sbyte>>(s);
            var dv = MemoryMarshal.Cast<float, Vector<float>>(d);
            for (int k = 0; k < sv.Length; k++)
            {
                Vector.Widen(sv[k], out Vector<short> lo, out Vector<short> hi);
                Vector.Widen(lo, out Vector<int> a, out Vector<int> b);
                Vector.Widen(hi, out Vector<int> c, out Vector<int> e);
                int o = k * 4;
                dv[o] = Vector.ConvertToSingle(a);
                dv[o + 1] = Vector.ConvertToSingle(b);
                dv[o + 2] = Vector.ConvertToSingle(c);
                dv[o + 3] = Vector.ConvertToSingle(e);
            }
            i = sv.Length * Vector<sbyte>.Count;
        }
        for (; i < s.Length; i++) d[i] = s[i];
    }

    private static void FromInt16(ReadOnlySpan<short> s, Span<float> d)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated && s.Length >= Vector<short>.Count)
        {
            var sv = MemoryMarshal.Cast<short, Vector<short>>(s);
            var dv = MemoryMarshal.Cast<float, Vector<float>>(d);
            for (int k = 0; k < sv.Length; k++)
            {
                Vector.Widen(sv[k], out Vector<int> a, out Vector<int> b);
                dv[2 * k] = Vector.ConvertToSingle(a);
                dv[2 * k + 1] = Vector.ConvertToSingle(b);
            }
            i = sv.Length * Vector<short>.Count;
        }
        for (; i < s.Length; i++) d[i] = s[i];
    }

    private static void FromUInt16(ReadOnlySpan<ushort> s, Span<float> d)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated && s.Length >= Vector<ushort>.Count)
        {
            var sv = MemoryMarshal.Cast<ushort, Vector<ushort>>(s);
            var dv = MemoryMarshal.Cast<float, Vector<float>>(d);
            for (int k = 0; k < sv.Length; k++)
            {
                Vector.Widen(sv[k], out Vector<uint> a, out Vector<uint> b);
                dv[2 * k] = Vector.ConvertToSingle(Vector.AsVectorInt32(a));
                dv[2 * k + 1] = Vector.ConvertToSingle(Vector.AsVectorInt32(b));
            }
            i = sv.Length * Vector<ushort>.Count;
        }
        for (; i < s.Length; i++) d[i] = s[i];
    }

    private static void FromInt32(ReadOnlySpan<int> s, Span<float> d)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated && s.Length >= Vector<int>.Count)
        {
            var sv = MemoryMarshal.Cast<int, Vector<int>>(s);
            var dv = MemoryMarshal.Cast<float, Vector<float>>(d);
            for (int k = 0; k < sv.Length; k++) dv[k] = Vector.ConvertToSingle(sv[k]);
            i = sv.Length * Vector<int>.Count;
        }
        for (; i < s.Length; i++) d[i] = s[i];
    }

    /// <summary>
    /// Voxel <paramref name="i"/> of stored data as a double, exactly. <paramref name="raw"/> must be in the machine's
    /// byte order, as <see cref="Decode"/> leaves it. Not for colour types.
    /// </summary>
    public static double StoredValue(ReadOnlySpan<byte> raw, int i, NiftiType type) => type.Kind switch
    {
        VoxelKind.UInt8 => raw[i],
        VoxelKind.Int8 => (sbyte)raw[i],
        VoxelKind.Int16 => MemoryMarshal.Cast<byte, short>(raw)[i],
        VoxelKind.UInt16 => MemoryMarshal.Cast<byte, ushort>(raw)[i],
        VoxelKind.Int32 => MemoryMarshal.Cast<byte, int>(raw)[i],
        VoxelKind.UInt32 => MemoryMarshal.Cast<byte, uint>(raw)[i],
        VoxelKind.Int64 => MemoryMarshal.Cast<byte, long>(raw)[i],
        VoxelKind.UInt64 => MemoryMarshal.Cast<byte, ulong>(raw)[i],
        VoxelKind.Float32 => MemoryMarshal.Cast<byte, float>(raw)[i],
        VoxelKind.Float64 => MemoryMarshal.Cast<byte, double>(raw)[i],
        _ => throw new InvalidOperationException($"{type.Name} has no single stored value per voxel."),
    };

    private static void FromUInt32(ReadOnlySpan<uint> s, Span<float> d)
    {
        // Through double so large values round once, as nibabel's float64 then our float32 cast.
        for (int i = 0; i < s.Length; i++) d[i] = (float)(double)s[i];
    }

    private static void FromFloat64(ReadOnlySpan<double> s, Span<float> d)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated && s.Length >= 2 * Vector<double>.Count)
        {
            var sv = MemoryMarshal.Cast<double, Vector<double>>(s);
            var dv = MemoryMarshal.Cast<float, Vector<float>>(d);
            for (int k = 0; k + 1 < sv.Length; k += 2) dv[k / 2] = Vector.Narrow(sv[k], sv[k + 1]);
            i = (sv.Length / 2) * 2 * Vector<double>.Count;
        }
        for (; i < s.Length; i++) d[i] = (float)s[i];
    }

    private static void ScaleDouble<T>(ReadOnlySpan<T> s, Span<float> d, Scaling sc) where T : unmanaged, INumberBase<T>
    {
        double slope = sc.Slope, inter = sc.Inter;
        for (int i = 0; i < s.Length; i++) d[i] = (float)(double.CreateTruncating(s[i]) * slope + inter);
    }

    /// <summary>d = d * slope + inter. Exact inputs (small integers, float32) and float32-representable slope/inter use
    /// float arithmetic with one rounding (fused multiply-add); otherwise double.</summary>
    private static void ApplyScaling(Span<float> d, Scaling sc)
    {
        float fs = (float)sc.Slope, fi = (float)sc.Inter;
        if (fs == sc.Slope && fi == sc.Inter)
        {
            int i = 0;
            if (Vector.IsHardwareAccelerated)
            {
                var dv = MemoryMarshal.Cast<float, Vector<float>>(d);
                var vs = new Vector<float>(fs);
                var vi = new Vector<float>(fi);
                for (int k = 0; k < dv.Length; k++) dv[k] = Vector.FusedMultiplyAdd(dv[k], vs, vi);
                i = dv.Length * Vector<float>.Count;
            }
            for (; i < d.Length; i++) d[i] = MathF.FusedMultiplyAdd(d[i], fs, fi);
        }
        else
        {
            for (int i = 0; i < d.Length; i++) d[i] = (float)(d[i] * sc.Slope + sc.Inter);
        }
    }

    // ---------------------------------------------------------------- encoding (writer)

    /// <summary>
    /// Stores float32 values as <paramref name="type"/> (little-endian) with raw = round((v - inter) / slope), clamped to
    /// the type's range; NaN becomes the stored value nearest 0 and ±inf the type's limits (nibabel's nan2zero and
    /// thresholding). Float types store the value itself.
    /// </summary>
    public static void Encode(ReadOnlySpan<float> src, Span<byte> dst, NiftiType type, Scaling scaling)
    {
        switch (type.Kind)
        {
            case VoxelKind.Float32:
                MemoryMarshal.Cast<float, byte>(src).CopyTo(dst);
                if (!BitConverter.IsLittleEndian) Swap(dst[..(src.Length * 4)], 4);
                return;
            case VoxelKind.Float64:
            {
                var d = MemoryMarshal.Cast<byte, double>(dst);
                for (int i = 0; i < src.Length; i++) d[i] = src[i];
                if (!BitConverter.IsLittleEndian) Swap(dst[..(src.Length * 8)], 8);
                return;
            }
        }
        var (min, max) = type.IntegerRange;
        double slope = scaling.Slope, inter = scaling.Inter;
        double nanRaw = Math.Clamp(Math.Round(-inter / slope, MidpointRounding.ToEven), min, max);
        bool identity = scaling.IsIdentity;
        switch (type.Kind)
        {
            case VoxelKind.UInt8: for (int i = 0; i < src.Length; i++) dst[i] = (byte)ToRaw(src[i]); break;
            case VoxelKind.Int8: for (int i = 0; i < src.Length; i++) dst[i] = (byte)(sbyte)ToRaw(src[i]); break;
            case VoxelKind.Int16: { var d = MemoryMarshal.Cast<byte, short>(dst); for (int i = 0; i < src.Length; i++) d[i] = (short)ToRaw(src[i]); break; }
            case VoxelKind.UInt16: { var d = MemoryMarshal.Cast<byte, ushort>(dst); for (int i = 0; i < src.Length; i++) d[i] = (ushort)ToRaw(src[i]); break; }
            case VoxelKind.Int32: { var d = MemoryMarshal.Cast<byte, int>(dst); for (int i = 0; i < src.Length; i++) d[i] = (int)ToRaw(src[i]); break; }
            case VoxelKind.UInt32: { var d = MemoryMarshal.Cast<byte, uint>(dst); for (int i = 0; i < src.Length; i++) d[i] = (uint)ToRaw(src[i]); break; }
            case VoxelKind.Int64: { var d = MemoryMarshal.Cast<byte, long>(dst); for (int i = 0; i < src.Length; i++) d[i] = (long)ToRaw(src[i]); break; }
            case VoxelKind.UInt64: { var d = MemoryMarshal.Cast<byte, ulong>(dst); for (int i = 0; i < src.Length; i++) d[i] = (ulong)ToRaw(src[i]); break; }
            default: throw new InvalidOperationException($"Cannot encode {type.Name} from float voxels.");
        }
        if (!BitConverter.IsLittleEndian && type.Bytes > 1) Swap(dst[..(src.Length * type.Bytes)], type.Bytes);

        double ToRaw(float v)
        {
            if (float.IsNaN(v)) return nanRaw;
            double r = identity ? v : (v - inter) / slope;
            r = Math.Round(r, MidpointRounding.ToEven);
            return r < min ? min : r > max ? max : r;
        }
    }

    /// <summary>Interleaves three colour planes (0..255, rounded and clamped) into rgb24 bytes.</summary>
    public static void EncodeRgb(ReadOnlySpan<float> planes, int planeSize, int offset, int count, Span<byte> dst)
    {
        for (int i = 0; i < count; i++)
            for (int p = 0; p < 3; p++)
            {
                float v = planes[p * planeSize + offset + i];
                dst[3 * i + p] = float.IsNaN(v) ? (byte)0 : (byte)Math.Clamp(Math.Round(v, MidpointRounding.ToEven), 0, 255);
            }
    }
}
