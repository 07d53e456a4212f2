using System.Buffers.Binary;
using System.Text;
using MathNet.Numerics.LinearAlgebra;
using RegPS.Engine.Images;

namespace RegPS.Engine.IO;

/// <summary>How one voxel is stored on disk.</summary>
internal enum VoxelKind
{
    UInt8, Int8, Int16, UInt16, Int32, UInt32, Int64, UInt64, Float32, Float64, Rgb24, Rgba32,
}

/// <summary>A NIfTI datatype code that RegPS reads.</summary>
internal readonly record struct NiftiType(short Code, string Name, int Bytes, VoxelKind Kind)
{
    public short BitPix => (short)(Bytes * 8);
    public bool IsInteger => Kind is not (VoxelKind.Float32 or VoxelKind.Float64 or VoxelKind.Rgb24 or VoxelKind.Rgba32);
    public bool IsColour => Kind is VoxelKind.Rgb24 or VoxelKind.Rgba32;

    /// <summary>Smallest and largest value of an integer type.</summary>
    public (double Min, double Max) IntegerRange => Kind switch
    {
        VoxelKind.UInt8 => (byte.MinValue, byte.MaxValue),
        VoxelKind.Int8 => (sbyte.MinValue, sbyte.MaxValue),
        VoxelKind.Int16 => (short.MinValue, short.MaxValue),
        VoxelKind.UInt16 => (ushort.MinValue, ushort.MaxValue),
        VoxelKind.Int32 => (int.MinValue, int.MaxValue),
        VoxelKind.UInt32 => (uint.MinValue, uint.MaxValue),
        // The largest doubles that still convert into the type.
        VoxelKind.Int64 => (long.MinValue, 9223372036854774784.0),
        VoxelKind.UInt64 => (0, 18446744073709549568.0),
        _ => throw new InvalidOperationException($"{Name} is not an integer type."),
    };
}

/// <summary>
/// The NIfTI-1/NIfTI-2 binary layout (header fields, datatype codes) and nibabel's rules for the grid-to-world matrix.
/// </summary>
internal static class NiftiFormat
{
    public const int Nifti1HeaderSize = 348;
    public const int Nifti2HeaderSize = 540;

    private static readonly NiftiType[] Types =
    {
        new(2, "uint8", 1, VoxelKind.UInt8),
        new(4, "int16", 2, VoxelKind.Int16),
        new(8, "int32", 4, VoxelKind.Int32),
        new(16, "float32", 4, VoxelKind.Float32),
        new(64, "float64", 8, VoxelKind.Float64),
        new(128, "rgb24", 3, VoxelKind.Rgb24),
        new(256, "int8", 1, VoxelKind.Int8),
        new(512, "uint16", 2, VoxelKind.UInt16),
        new(768, "uint32", 4, VoxelKind.UInt32),
        new(1024, "int64", 8, VoxelKind.Int64),
        new(1280, "uint64", 8, VoxelKind.UInt64),
        new(2304, "rgba32", 4, VoxelKind.Rgba32),
    };

    /// <summary>Codes NIfTI defines that RegPS does not read, with the reason.</summary>
    private static readonly Dictionary<short, string> Unsupported = new()
    {
        [1] = "1-bit binary data (datatype 1) is not supported",
        [32] = "complex data (complex64, datatype 32) is not supported: RegPS reads real-valued images only",
        [1536] = "128-bit float data (float128, datatype 1536) is not supported",
        [1792] = "complex data (complex128, datatype 1792) is not supported: RegPS reads real-valued images only",
        [2048] = "complex data (complex256, datatype 2048) is not supported: RegPS reads real-valued images only",
    };

    public static bool TryGetType(short code, out NiftiType type)
    {
        foreach (var t in Types)
            if (t.Code == code) { type = t; return true; }
        type = default;
        return false;
    }

    public static NiftiType GetType(VoxelKind kind) => Types.First(t => t.Kind == kind);

    public static NiftiType? TypeByName(string? name) =>
        name is null ? null : Types.Where(t => string.Equals(t.Name, name, StringComparison.OrdinalIgnoreCase)).Select(t => (NiftiType?)t).FirstOrDefault();

    public static string TypeName(short code) => TryGetType(code, out var t) ? t.Name : $"code {code}";

    /// <summary>Why a datatype code cannot be read (null when it can).</summary>
    public static string? UnsupportedReason(short code)
    {
        if (TryGetType(code, out _)) return null;
        return Unsupported.TryGetValue(code, out var why) ? why : $"datatype code {code} is not a NIfTI data type RegPS knows";
    }

    // ---------------------------------------------------------------- header parsing

    /// <summary>
    /// Reads the version and byte order from the first 4 bytes (sizeof_hdr): 348 is NIfTI-1, 540 is NIfTI-2,
    /// either byte-swapped means big-endian. Returns false for anything else.
    /// </summary>
    public static bool TryDetect(ReadOnlySpan<byte> first4, out int version, out bool bigEndian)
    {
        int le = BinaryPrimitives.ReadInt32LittleEndian(first4);
        int be = BinaryPrimitives.ReadInt32BigEndian(first4);
        (version, bigEndian) = (le, be) switch
        {
            (Nifti1HeaderSize, _) => (1, false),
            (Nifti2HeaderSize, _) => (2, false),
            (_, Nifti1HeaderSize) => (1, true),
            (_, Nifti2HeaderSize) => (2, true),
            _ => (0, false),
        };
        return version != 0;
    }

    private ref struct Fields
    {
        private readonly ReadOnlySpan<byte> _b;
        private readonly bool _big;
        public Fields(ReadOnlySpan<byte> b, bool big) { _b = b; _big = big; }
        public short I16(int o) => _big ? BinaryPrimitives.ReadInt16BigEndian(_b[o..]) : BinaryPrimitives.ReadInt16LittleEndian(_b[o..]);
        public int I32(int o) => _big ? BinaryPrimitives.ReadInt32BigEndian(_b[o..]) : BinaryPrimitives.ReadInt32LittleEndian(_b[o..]);
        public long I64(int o) => _big ? BinaryPrimitives.ReadInt64BigEndian(_b[o..]) : BinaryPrimitives.ReadInt64LittleEndian(_b[o..]);
        public double F32(int o) => _big ? BinaryPrimitives.ReadSingleBigEndian(_b[o..]) : BinaryPrimitives.ReadSingleLittleEndian(_b[o..]);
        public double F64(int o) => _big ? BinaryPrimitives.ReadDoubleBigEndian(_b[o..]) : BinaryPrimitives.ReadDoubleLittleEndian(_b[o..]);
        public byte U8(int o) => _b[o];
        public string Str(int o, int len)
        {
            var s = _b.Slice(o, len);
            int end = s.IndexOf((byte)0);
            if (end >= 0) s = s[..end];
            return Encoding.Latin1.GetString(s).TrimEnd();
        }
    }

    /// <summary>Parses a complete header block (348 or 540 bytes). Field meanings are NIfTI's; nothing is validated here.</summary>
    public static NiftiHeader Parse(ReadOnlySpan<byte> b, int version, bool bigEndian)
    {
        var f = new Fields(b, bigEndian);
        var h = new NiftiHeader { Version = version, BigEndian = bigEndian };
        if (version == 1)
        {
            h.DimInfo = f.U8(39);
            for (int i = 0; i < 8; i++) h.Dim[i] = f.I16(40 + 2 * i);
            h.IntentP1 = f.F32(56); h.IntentP2 = f.F32(60); h.IntentP3 = f.F32(64);
            h.IntentCode = f.I16(68);
            h.DataType = f.I16(70);
            h.BitPix = f.I16(72);
            h.SliceStart = f.I16(74);
            for (int i = 0; i < 8; i++) h.PixDim[i] = f.F32(76 + 4 * i);
            h.VoxOffset = f.F32(108);
            h.SclSlope = f.F32(112); h.SclInter = f.F32(116);
            h.SliceEnd = f.I16(120);
            h.SliceCode = f.U8(122);
            h.XyztUnits = f.U8(123);
            h.CalMax = f.F32(124); h.CalMin = f.F32(128);
            h.SliceDuration = f.F32(132); h.TOffset = f.F32(136);
            h.Description = f.Str(148, 80);
            h.AuxFile = f.Str(228, 24);
            h.QFormCode = f.I16(252); h.SFormCode = f.I16(254);
            h.QuaternB = f.F32(256); h.QuaternC = f.F32(260); h.QuaternD = f.F32(264);
            h.QOffsetX = f.F32(268); h.QOffsetY = f.F32(272); h.QOffsetZ = f.F32(276);
            for (int i = 0; i < 12; i++) h.SRow[i] = f.F32(280 + 4 * i);
            h.IntentName = f.Str(328, 16);
            h.Magic = f.Str(344, 4);
        }
        else
        {
            h.Magic = f.Str(4, 4);
            h.DataType = f.I16(12);
            h.BitPix = f.I16(14);
            for (int i = 0; i < 8; i++) h.Dim[i] = f.I64(16 + 8 * i);
            h.IntentP1 = f.F64(80); h.IntentP2 = f.F64(88); h.IntentP3 = f.F64(96);
            for (int i = 0; i < 8; i++) h.PixDim[i] = f.F64(104 + 8 * i);
            h.VoxOffset = f.I64(168);
            h.SclSlope = f.F64(176); h.SclInter = f.F64(184);
            h.CalMax = f.F64(192); h.CalMin = f.F64(200);
            h.SliceDuration = f.F64(208); h.TOffset = f.F64(216);
            h.SliceStart = f.I64(224); h.SliceEnd = f.I64(232);
            h.Description = f.Str(240, 80);
            h.AuxFile = f.Str(320, 24);
            h.QFormCode = f.I32(344); h.SFormCode = f.I32(348);
            h.QuaternB = f.F64(352); h.QuaternC = f.F64(360); h.QuaternD = f.F64(368);
            h.QOffsetX = f.F64(376); h.QOffsetY = f.F64(384); h.QOffsetZ = f.F64(392);
            for (int i = 0; i < 12; i++) h.SRow[i] = f.F64(400 + 8 * i);
            h.SliceCode = f.I32(496);
            h.XyztUnits = f.I32(500);
            h.IntentCode = f.I32(504);
            h.IntentName = f.Str(508, 16);
            h.DimInfo = f.U8(524);
        }
        return h;
    }

    /// <summary>Serialises a header (little-endian) into a block of 348 (NIfTI-1) or 540 (NIfTI-2) bytes.</summary>
    public static byte[] Serialize(NiftiHeader h)
    {
        var b = new byte[h.Version == 2 ? Nifti2HeaderSize : Nifti1HeaderSize];
        void I16(int o, long v) => BinaryPrimitives.WriteInt16LittleEndian(b.AsSpan(o), checked((short)v));
        void I32(int o, long v) => BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(o), checked((int)v));
        void I64(int o, long v) => BinaryPrimitives.WriteInt64LittleEndian(b.AsSpan(o), v);
        void F32(int o, double v) => BinaryPrimitives.WriteSingleLittleEndian(b.AsSpan(o), (float)v);
        void F64(int o, double v) => BinaryPrimitives.WriteDoubleLittleEndian(b.AsSpan(o), v);
        void Str(int o, int len, string v)
        {
            var bytes = Encoding.Latin1.GetBytes(v ?? "");
            bytes.AsSpan(0, Math.Min(bytes.Length, len - 1)).CopyTo(b.AsSpan(o, len));
        }
        if (h.Version == 2)
        {
            I32(0, Nifti2HeaderSize);
            Str(4, 8, h.Magic);
            b[8] = 0x0D; b[9] = 0x0A; b[10] = 0x1A; b[11] = 0x0A;
            I16(12, h.DataType); I16(14, h.BitPix);
            for (int i = 0; i < 8; i++) I64(16 + 8 * i, h.Dim[i]);
            F64(80, h.IntentP1); F64(88, h.IntentP2); F64(96, h.IntentP3);
            for (int i = 0; i < 8; i++) F64(104 + 8 * i, h.PixDim[i]);
            I64(168, (long)h.VoxOffset);
            F64(176, h.SclSlope); F64(184, h.SclInter);
            F64(192, h.CalMax); F64(200, h.CalMin);
            F64(208, h.SliceDuration); F64(216, h.TOffset);
            I64(224, h.SliceStart); I64(232, h.SliceEnd);
            Str(240, 80, h.Description); Str(320, 24, h.AuxFile);
            I32(344, h.QFormCode); I32(348, h.SFormCode);
            F64(352, h.QuaternB); F64(360, h.QuaternC); F64(368, h.QuaternD);
            F64(376, h.QOffsetX); F64(384, h.QOffsetY); F64(392, h.QOffsetZ);
            for (int i = 0; i < 12; i++) F64(400 + 8 * i, h.SRow[i]);
            I32(496, h.SliceCode); I32(500, h.XyztUnits); I32(504, h.IntentCode);
            Str(508, 16, h.IntentName);
            b[524] = h.DimInfo;
        }
        else
        {
            I32(0, Nifti1HeaderSize);
            b[38] = (byte)'r'; // "regular", as nibabel writes
            b[39] = h.DimInfo;
            for (int i = 0; i < 8; i++) I16(40 + 2 * i, h.Dim[i]);
            F32(56, h.IntentP1); F32(60, h.IntentP2); F32(64, h.IntentP3);
            I16(68, h.IntentCode); I16(70, h.DataType); I16(72, h.BitPix);
            I16(74, Math.Clamp(h.SliceStart, short.MinValue, short.MaxValue));
            for (int i = 0; i < 8; i++) F32(76 + 4 * i, h.PixDim[i]);
            F32(108, h.VoxOffset);
            F32(112, h.SclSlope); F32(116, h.SclInter);
            I16(120, Math.Clamp(h.SliceEnd, short.MinValue, short.MaxValue));
            b[122] = (byte)h.SliceCode; b[123] = (byte)h.XyztUnits;
            F32(124, h.CalMax); F32(128, h.CalMin);
            F32(132, h.SliceDuration); F32(136, h.TOffset);
            Str(148, 80, h.Description); Str(228, 24, h.AuxFile);
            I16(252, h.QFormCode); I16(254, h.SFormCode);
            F32(256, h.QuaternB); F32(260, h.QuaternC); F32(264, h.QuaternD);
            F32(268, h.QOffsetX); F32(272, h.QOffsetY); F32(276, h.QOffsetZ);
            for (int i = 0; i < 12; i++) F32(280 + 4 * i, h.SRow[i]);
            Str(328, 16, h.IntentName);
            Str(344, 4, h.Magic);
        }
        return b;
    }

    // ---------------------------------------------------------------- grid-to-world, as nibabel

    /// <summary>
    /// Applies the fixes nibabel's header check makes on load (Nifti1Header.check_fix), noting each in Warnings:
    /// pixdim[1..3] zero -> 1 and negative -> abs; qfac (pixdim[0]) other than +-1 -> 1; qform/sform codes outside 0..5 -> 0.
    /// </summary>
    public static void ApplyNibabelFixes(NiftiHeader h)
    {
        for (int i = 1; i <= 3; i++)
        {
            if (i > h.Dim[0])
            {
                // Axes the image does not have: fix silently (they only matter to a qform).
                if (h.PixDim[i] == 0 || !double.IsFinite(h.PixDim[i])) h.PixDim[i] = 1;
                else if (h.PixDim[i] < 0) h.PixDim[i] = -h.PixDim[i];
                continue;
            }
            if (h.PixDim[i] == 0) { h.Warnings.Add($"pixdim[{i}] is 0; treated as 1 (as nibabel does)."); h.PixDim[i] = 1; }
            else if (h.PixDim[i] < 0) { h.Warnings.Add($"pixdim[{i}] is negative ({h.PixDim[i]:G6}); its absolute value is used (as nibabel does)."); h.PixDim[i] = -h.PixDim[i]; }
            else if (!double.IsFinite(h.PixDim[i])) { h.Warnings.Add($"pixdim[{i}] is not finite; treated as 1."); h.PixDim[i] = 1; }
        }
        if (h.PixDim[0] is not (1 or -1))
        {
            if (h.QFormCode is > 0 and <= 5 && h.SFormCode is not (> 0 and <= 5))
                h.Warnings.Add($"qfac (pixdim[0]) is {h.PixDim[0]:G6}; treated as 1 (as nibabel does).");
            h.PixDim[0] = 1;
        }
        if (h.QFormCode is < 0 or > 5) { h.Warnings.Add($"qform_code {h.QFormCode} is not a valid code; treated as 0 (as nibabel does)."); h.QFormCode = 0; }
        if (h.SFormCode is < 0 or > 5) { h.Warnings.Add($"sform_code {h.SFormCode} is not a valid code; treated as 0 (as nibabel does)."); h.SFormCode = 0; }
    }

    /// <summary>nibabel's get_best_affine: the sform when sform_code > 0, else the qform when qform_code > 0, else the base affine.</summary>
    public static Matrix4 BestAffine(NiftiHeader h)
    {
        if (h.SFormCode != 0) return SForm(h);
        if (h.QFormCode != 0) return QForm(h);
        return BaseAffine(h);
    }

    public static Matrix4 SForm(NiftiHeader h)
    {
        var m = new double[16];
        Array.Copy(h.SRow, m, 12);
        m[15] = 1;
        return new Matrix4(m);
    }

    /// <summary>
    /// nibabel's get_qform: w = sqrt(1 - b²-c²-d²) (0 when slightly negative from rounding), R from the quaternion,
    /// times diag(pixdim[1], pixdim[2], qfac*pixdim[3]), plus the q offsets.
    /// </summary>
    public static Matrix4 QForm(NiftiHeader h)
    {
        double b = h.QuaternB, c = h.QuaternC, d = h.QuaternD;
        double w2 = 1.0 - (b * b + c * c + d * d);
        // nibabel's quaternion_threshold: 3 eps of the stored precision (float32 in NIfTI-1, float64 in NIfTI-2).
        double threshold = h.Version == 2 ? -3 * 2.220446049250313e-16 : -3 * 1.1920929e-07;
        double w;
        if (w2 < 0)
        {
            if (w2 < threshold) throw new FormatException($"the qform quaternion (b={b:G9}, c={c:G9}, d={d:G9}) is longer than 1");
            w = 0;
        }
        else w = Math.Sqrt(w2);
        var r = QuaternionToMatrix(w, b, c, d);
        double qfac = h.PixDim[0] == -1 ? -1 : 1;
        double[] vox = { h.PixDim[1], h.PixDim[2], h.PixDim[3] * qfac };
        var m = new double[16];
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++) m[i * 4 + j] = r[i, j] * vox[j];
        m[3] = h.QOffsetX; m[7] = h.QOffsetY; m[11] = h.QOffsetZ;
        m[15] = 1;
        return new Matrix4(m);
    }

    /// <summary>
    /// nibabel's get_base_affine (shape_zoom_affine with x flipped): diag(-pixdim[1], pixdim[2], pixdim[3]) with the
    /// origin at the centre of the image, i.e. offset -(n-1)/2 * zoom per axis. Axes beyond dim[0] count as size 1, zoom 1.
    /// </summary>
    public static Matrix4 BaseAffine(NiftiHeader h)
    {
        long ndim = Math.Clamp(h.Dim[0], 0, 7);
        var m = new double[16];
        for (int i = 0; i < 3; i++)
        {
            double n = i < ndim ? h.Dim[i + 1] : 1;
            double z = i < ndim ? h.PixDim[i + 1] : 1;
            if (i == 0) z = -z;
            m[i * 4 + i] = z;
            m[i * 4 + 3] = -(n - 1) / 2.0 * z;
        }
        m[15] = 1;
        return new Matrix4(m);
    }

    /// <summary>nibabel's quat2mat (normalises the quaternion first).</summary>
    public static double[,] QuaternionToMatrix(double w, double x, double y, double z)
    {
        double nq = w * w + x * x + y * y + z * z;
        if (nq < 2.220446049250313e-16) return new double[,] { { 1, 0, 0 }, { 0, 1, 0 }, { 0, 0, 1 } };
        double s = 2.0 / nq;
        double X = x * s, Y = y * s, Z = z * s;
        double wX = w * X, wY = w * Y, wZ = w * Z;
        double xX = x * X, xY = x * Y, xZ = x * Z;
        double yY = y * Y, yZ = y * Z, zZ = z * Z;
        return new[,]
        {
            { 1.0 - (yY + zZ), xY - wZ, xZ + wY },
            { xY + wZ, 1.0 - (xX + zZ), yZ - wX },
            { xZ - wY, yZ + wX, 1.0 - (xX + yY) },
        };
    }

    /// <summary>The qform of a grid-to-world matrix, as nibabel's set_qform computes it.</summary>
    public readonly record struct QFormParts(double B, double C, double D, double QFac, double[] Zooms, double[] Offset, bool HasShear);

    /// <summary>
    /// nibabel's set_qform: zooms are the column norms, qfac = -1 (and the last column negated) when the rotation has a
    /// negative determinant, the rotation is made orthogonal by polar decomposition (shears stripped; HasShear tells
    /// whether that changed it by more than 1e-6), and converted to a quaternion with a non-negative real part.
    /// </summary>
    public static QFormParts DecomposeQForm(Matrix4 a)
    {
        var zooms = new double[3];
        var r = Matrix<double>.Build.Dense(3, 3);
        for (int j = 0; j < 3; j++)
        {
            zooms[j] = Math.Sqrt(a[0, j] * a[0, j] + a[1, j] * a[1, j] + a[2, j] * a[2, j]);
            for (int i = 0; i < 3; i++) r[i, j] = a[i, j] / zooms[j];
        }
        double qfac = 1;
        if (r.Determinant() <= 0)
        {
            qfac = -1;
            for (int i = 0; i < 3; i++) r[i, 2] = -r[i, 2];
        }
        var svd = r.Svd(true);
        var pr = svd.U * svd.VT;
        bool shear = (pr - r).Enumerate().Any(v => Math.Abs(v) > 1e-6);
        var (w, x, y, z) = MatrixToQuaternion(pr);
        return new QFormParts(x, y, z, qfac, zooms, new[] { a[0, 3], a[1, 3], a[2, 3] }, shear);
    }

    /// <summary>Quaternion (w >= 0) of an orthogonal 3x3 matrix with determinant +1 (Shepperd's method).</summary>
    private static (double W, double X, double Y, double Z) MatrixToQuaternion(Matrix<double> m)
    {
        double t = m[0, 0] + m[1, 1] + m[2, 2];
        double w, x, y, z;
        if (t > 0)
        {
            double s = Math.Sqrt(t + 1.0) * 2;
            w = 0.25 * s;
            x = (m[2, 1] - m[1, 2]) / s;
            y = (m[0, 2] - m[2, 0]) / s;
            z = (m[1, 0] - m[0, 1]) / s;
        }
        else if (m[0, 0] > m[1, 1] && m[0, 0] > m[2, 2])
        {
            double s = Math.Sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2]) * 2;
            w = (m[2, 1] - m[1, 2]) / s;
            x = 0.25 * s;
            y = (m[0, 1] + m[1, 0]) / s;
            z = (m[0, 2] + m[2, 0]) / s;
        }
        else if (m[1, 1] > m[2, 2])
        {
            double s = Math.Sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2]) * 2;
            w = (m[0, 2] - m[2, 0]) / s;
            x = (m[0, 1] + m[1, 0]) / s;
            y = 0.25 * s;
            z = (m[1, 2] + m[2, 1]) / s;
        }
        else
        {
            double s = Math.Sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1]) * 2;
            w = (m[1, 0] - m[0, 1]) / s;
            x = (m[0, 2] + m[2, 0]) / s;
            y = (m[1, 2] + m[2, 1]) / s;
            z = 0.25 * s;
        }
        double n = Math.Sqrt(w * w + x * x + y * y + z * z);
        w /= n; x /= n; y /= n; z /= n;
        if (w < 0) { w = -w; x = -x; y = -y; z = -z; }
        return (w, x, y, z);
    }
}
