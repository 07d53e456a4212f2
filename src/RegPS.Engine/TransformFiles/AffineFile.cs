using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using RegPS.Engine.Common;
using RegPS.Engine.Images;
using RegPS.Engine.IO;

namespace RegPS.Engine.TransformFiles;

public enum AffineFileFormat
{
    /// <summary>ITK text transform (#Insight Transform File V1.0), LPS; read by ANTs, SimpleITK, ITK-SNAP, wb_command.</summary>
    ItkText,
    /// <summary>ANTs binary .mat (MATLAB v4: AffineTransform_double_3_3 and fixed), LPS.</summary>
    AntsMat,
    /// <summary>A plain 4x4 matrix in RAS millimetres, one row per line (static world to moving world, DIPY's meaning).</summary>
    RasMatrix,
}

/// <summary>
/// Saves and loads affine maps in the files other tools read. RegPS (like DIPY) stores the matrix A that maps a
/// static-world point to a moving-world point in RAS mm; ITK and ANTs transforms map fixed points to moving points too,
/// but in LPS, so A_lps = F A_ras F with F = diag(-1, -1, 1, 1). ITK's affine is y = M (x - c) + t + c; RegPS writes
/// c = 0 (FixedParameters 0) and reads any centre by folding it into the translation.
/// </summary>
public static class AffineFile
{
    private const string ItkMagic = "#Insight Transform File V1.0";

    /// <summary>
    /// The format an extension implies: .mat = ANTs, .tfm/.txt = ITK text, .ras = plain RAS matrix. Any other extension
    /// is an error (never a silently different format); .h5 and .json are written by <c>TransformFile</c>.
    /// </summary>
    public static AffineFileFormat FormatFromPath(string path) => TryFormatFromPath(path) ??
        throw new ArgumentException($"'{path}': unknown transform file extension; use .txt or .tfm (ITK text), .mat (ANTs), .h5 (ITK HDF5), .ras (plain RAS matrix) or .json (RegPS manifest).");

    /// <summary>The affine format an extension implies, or null for any other extension.</summary>
    public static AffineFileFormat? TryFormatFromPath(string path)
    {
        var name = Path.GetFileName(path).ToLowerInvariant();
        if (name.EndsWith(".mat", StringComparison.Ordinal)) return AffineFileFormat.AntsMat;
        if (name.EndsWith(".tfm", StringComparison.Ordinal) || name.EndsWith(".txt", StringComparison.Ordinal)) return AffineFileFormat.ItkText;
        if (name.EndsWith(".ras", StringComparison.Ordinal)) return AffineFileFormat.RasMatrix;
        return null;
    }

    /// <summary>
    /// Null when <paramref name="bytes"/> may be a text or MATLAB transform, otherwise what the file really is (a gzip
    /// stream, a NIfTI image, an HDF5 file), so a reader can say so instead of failing on its numbers.
    /// </summary>
    internal static string? BinaryKind(byte[] bytes)
    {
        if (bytes.Length >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b)
            return "the file is gzip-compressed (a .nii.gz image or displacement field?), not a text or .mat transform; name it .nii.gz to read it as a displacement field";
        if (bytes.Length >= 8 && bytes[0] == 0x89 && bytes[1] == (byte)'H' && bytes[2] == (byte)'D' && bytes[3] == (byte)'F')
            return "the file is HDF5 (an ITK .h5 transform?), not a text or .mat transform; name it .h5 to read it as ITK HDF5";
        if (bytes.Length >= 348 && (BinaryPrimitives.ReadInt32LittleEndian(bytes) == 348 || BinaryPrimitives.ReadInt32BigEndian(bytes) == 348))
            return "the file is a NIfTI-1 image, not a text or .mat transform; name it .nii or .nii.gz to read it as a displacement field";
        return null;
    }

    internal static Matrix4 RasLps(Matrix4 m)
    {
        var f = Matrix4.Scaling(-1, -1, 1);
        return f * m * f;
    }

    public static void Write(string path, Matrix4 staticToMovingRas, int dimension, AffineFileFormat? format = null, bool overwrite = false)
    {
        if (dimension is not (2 or 3)) throw new ArgumentOutOfRangeException(nameof(dimension));
        if (!staticToMovingRas.IsFinite) throw new ArgumentException("The matrix has non-finite values.");
        var fmt = format ?? FormatFromPath(path);
        byte[] bytes = fmt switch
        {
            AffineFileFormat.ItkText => Encoding.ASCII.GetBytes(ToItkText(staticToMovingRas, dimension)),
            AffineFileFormat.AntsMat => ToAntsMat(staticToMovingRas, dimension),
            _ => Encoding.ASCII.GetBytes(ToRasText(staticToMovingRas)),
        };
        AtomicFile.Write(path, overwrite, s => s.Write(bytes));
    }

    /// <summary>Reads any of the three formats (detected from the content) and returns the RAS static-to-moving matrix.</summary>
    public static Matrix4 Read(string path, out int dimension) => Usable(path, ReadMatrix(path, out dimension));

    /// <summary>
    /// Every format's matrix must be finite and invertible (a map is applied forwards and backwards); otherwise the
    /// error names the file here, rather than failing later where the file is no longer known.
    /// </summary>
    private static Matrix4 Usable(string path, Matrix4 m)
    {
        if (!m.IsFinite) throw new ImageFormatException(path, "the matrix has NaN or infinite values");
        if (!m.TryInverse(out _)) throw new ImageFormatException(path, $"the matrix is singular (it has no inverse): {string.Join(" ", m.ToArray().Select(F))}");
        return m;
    }

    private static Matrix4 ReadMatrix(string path, out int dimension)
    {
        var bytes = File.ReadAllBytes(path);
        if (bytes.Length == 0) throw new ImageFormatException(path, "the transform file is empty");
        if (BinaryKind(bytes) is { } kind) throw new ImageFormatException(path, kind);
        var head = Encoding.ASCII.GetString(bytes, 0, Math.Min(bytes.Length, ItkMagic.Length));
        if (head == ItkMagic) return FromItkText(path, Encoding.ASCII.GetString(bytes), out dimension);
        if (bytes.Length >= 20 && BinaryPrimitives.ReadInt32LittleEndian(bytes) is 0 or 10) return FromAntsMat(path, bytes, out dimension);
        return FromRasText(path, Encoding.ASCII.GetString(bytes), out dimension);
    }

    private static string F(double v) => v.ToString("R", CultureInfo.InvariantCulture);

    internal static string ToItkText(Matrix4 ras, int dim)
    {
        var m = RasLps(ras);
        var sb = new StringBuilder();
        sb.Append(ItkMagic).Append('\n').Append("#Transform 0\n");
        // MatrixOffsetTransformBase (AffineTransform's base class, same parameters) is the one affine type name that
        // every ITK-convention reader accepts: ITK, ANTs, SimpleITK and Connectome Workbench (which rejects AffineTransform).
        sb.Append($"Transform: MatrixOffsetTransformBase_double_{dim}_{dim}\n");
        var p = new List<double>();
        for (int i = 0; i < dim; i++) for (int j = 0; j < dim; j++) p.Add(m[i, j]);
        for (int i = 0; i < dim; i++) p.Add(m[i, 3]);
        sb.Append("Parameters: ").Append(string.Join(" ", p.Select(F))).Append('\n');
        sb.Append("FixedParameters: ").Append(string.Join(" ", Enumerable.Repeat("0", dim))).Append('\n');
        return sb.ToString();
    }

    internal static Matrix4 FromItkText(string path, string text, out int dimension) =>
        SingleLinear(path, ParseItkText(path, text), out dimension);

    /// <summary>The RAS matrix of a file's one linear transform (a composite holding one linear transform counts).</summary>
    internal static Matrix4 SingleLinear(string path, IReadOnlyList<ItkTransformRecord> records, out int dimension)
    {
        var parts = records.Where(r => !r.IsComposite).ToList();
        if (parts.Count != 1)
            throw new ImageFormatException(path, parts.Count == 0 ? "no transform in the file"
                : $"the file holds {parts.Count} transforms ({string.Join(", ", parts.Select(r => r.Type))}); read it with Import-RegTransform as a chain");
        var r = parts[0];
        if (r.IsDisplacementField) throw new ImageFormatException(path, $"'{r.Type}' is a displacement field, not an affine transform");
        dimension = r.Dimension;
        return RasLps(r.ToLpsMatrix(path));
    }

    /// <summary>
    /// Every transform of an ITK text file (#Insight Transform File V1.0): one "Transform:" line each, followed by its
    /// "Parameters:" and "FixedParameters:" lines (a CompositeTransform line has none; its parts follow in queue order).
    /// </summary>
    internal static List<ItkTransformRecord> ParseItkText(string path, string text)
    {
        var list = new List<ItkTransformRecord>();
        string? type = null; double[] pars = Array.Empty<double>(), fixedPars = Array.Empty<double>();
        void Flush()
        {
            if (type is not null) list.Add(new ItkTransformRecord(type, pars, fixedPars));
            pars = Array.Empty<double>(); fixedPars = Array.Empty<double>();
        }
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            if (line.StartsWith("Transform:", StringComparison.Ordinal))
            {
                Flush();
                type = line[10..].Trim();
                if (type.Length == 0) throw new ImageFormatException(path, "a 'Transform:' line names no type");
            }
            else if (line.StartsWith("Parameters:", StringComparison.Ordinal)) pars = ParseNumbers(path, line[11..]);
            else if (line.StartsWith("FixedParameters:", StringComparison.Ordinal)) fixedPars = ParseNumbers(path, line[16..]);
        }
        Flush();
        if (list.Count == 0) throw new ImageFormatException(path, "no 'Transform:' line");
        return list;
    }

    private static double[] ParseNumbers(string path, string s)
    {
        var tokens = s.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        var r = new double[tokens.Length];
        for (int i = 0; i < tokens.Length; i++)
            if (!double.TryParse(tokens[i], NumberStyles.Float, CultureInfo.InvariantCulture, out r[i]) || !double.IsFinite(r[i]))
                throw new ImageFormatException(path, $"'{tokens[i]}' is not a finite number");
        return r;
    }

    // MATLAB v4 records: int32 type (0 = little-endian double full matrix), mrows, ncols, imagf, namlen; name; data (column-major).
    internal static byte[] ToAntsMat(Matrix4 ras, int dim)
    {
        var m = RasLps(ras);
        var p = new List<double>();
        for (int i = 0; i < dim; i++) for (int j = 0; j < dim; j++) p.Add(m[i, j]);
        for (int i = 0; i < dim; i++) p.Add(m[i, 3]);
        using var ms = new MemoryStream();
        WriteMatVar(ms, $"AffineTransform_double_{dim}_{dim}", p.ToArray());
        WriteMatVar(ms, "fixed", new double[dim]);
        return ms.ToArray();
    }

    private static void WriteMatVar(Stream s, string name, double[] column)
    {
        var b = new byte[8];
        foreach (var v in new[] { 0, column.Length, 1, 0, name.Length + 1 })
        {
            BinaryPrimitives.WriteInt32LittleEndian(b, v);
            s.Write(b, 0, 4);
        }
        s.Write(Encoding.ASCII.GetBytes(name)); s.WriteByte(0);
        foreach (var v in column) { BinaryPrimitives.WriteDoubleLittleEndian(b, v); s.Write(b); }
    }

    internal static Matrix4 FromAntsMat(string path, byte[] bytes, out int dimension) =>
        SingleLinear(path, new[] { ParseAntsMat(path, bytes) }, out dimension);

    /// <summary>
    /// An ITK MATLAB v4 transform file (what ANTs writes as .mat): one variable named after the transform type holding
    /// its Parameters, and 'fixed' (or 'm_FixedParameters') holding its FixedParameters.
    /// </summary>
    internal static ItkTransformRecord ParseAntsMat(string path, byte[] bytes)
    {
        var vars = new Dictionary<string, double[]>();
        int pos = 0;
        while (pos < bytes.Length)
        {
            if (pos + 20 > bytes.Length) throw new ImageFormatException(path, "truncated MATLAB v4 record header");
            int type = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(pos));
            int rows = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(pos + 4));
            int cols = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(pos + 8));
            int imag = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(pos + 12));
            int namlen = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(pos + 16));
            pos += 20;
            if (type is not (0 or 10) || imag != 0 || rows < 0 || cols < 0 || namlen is < 1 or > 256 || (long)rows * cols > 64)
                throw new ImageFormatException(path, $"not an ANTs MATLAB v4 transform (record type {type}, {rows}x{cols})");
            if (pos + namlen > bytes.Length) throw new ImageFormatException(path, "truncated variable name");
            var name = Encoding.ASCII.GetString(bytes, pos, namlen - 1);
            pos += namlen;
            int n = rows * cols, size = type == 0 ? 8 : 4;
            if (pos + (long)n * size > bytes.Length) throw new ImageFormatException(path, $"variable '{name}' is truncated");
            var v = new double[n];
            for (int i = 0; i < n; i++)
                v[i] = type == 0 ? BinaryPrimitives.ReadDoubleLittleEndian(bytes.AsSpan(pos + 8 * i)) : BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(pos + 4 * i));
            pos += n * size;
            if (v.Any(x => !double.IsFinite(x))) throw new ImageFormatException(path, $"variable '{name}' has a NaN or infinite value");
            vars[name] = v;
        }
        var key = vars.Keys.FirstOrDefault(k => k.Contains("Transform", StringComparison.Ordinal));
        if (key is null) throw new ImageFormatException(path, $"no transform variable in the .mat file (found {string.Join(", ", vars.Keys)})");
        var centre = vars.TryGetValue("fixed", out var c) ? c : vars.TryGetValue("m_FixedParameters", out var c2) ? c2 : Array.Empty<double>();
        return new ItkTransformRecord(key, vars[key], centre);
    }

    internal static string ToRasText(Matrix4 m)
    {
        var sb = new StringBuilder();
        for (int i = 0; i < 4; i++) sb.Append(string.Join(" ", Enumerable.Range(0, 4).Select(j => F(m[i, j])))).Append('\n');
        return sb.ToString();
    }

    internal static Matrix4 FromRasText(string path, string text, out int dimension)
    {
        var rows = text.Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')).ToArray();
        if (rows.Length is not (3 or 4)) throw new ImageFormatException(path, $"expected a 4x4 (or 3x4) RAS matrix of numbers, found {rows.Length} lines");
        var vals = rows.Select(r => ParseNumbers(path, r)).ToArray();
        if (vals.Any(r => r.Length != 4)) throw new ImageFormatException(path, "every row of the RAS matrix needs 4 numbers");
        var all = vals.SelectMany(r => r).ToList();
        if (rows.Length == 3) all.AddRange(new double[] { 0, 0, 0, 1 });
        var m = new Matrix4(all.ToArray());
        if (Math.Abs(m[3, 0]) + Math.Abs(m[3, 1]) + Math.Abs(m[3, 2]) + Math.Abs(m[3, 3] - 1) > 1e-9)
            throw new ImageFormatException(path, "the last row of the RAS matrix must be 0 0 0 1");
        // A plain matrix does not say whether it was a 2D map; it is reported as 3D and acts on 2D grids in-plane.
        dimension = 3;
        return m;
    }
}
