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

    /// <summary>The format an extension implies: .mat = ANTs, .tfm/.txt = ITK text, anything else = RAS matrix.</summary>
    public static AffineFileFormat FormatFromPath(string path)
    {
        var name = Path.GetFileName(path).ToLowerInvariant();
        if (name.EndsWith(".mat", StringComparison.Ordinal)) return AffineFileFormat.AntsMat;
        if (name.EndsWith(".tfm", StringComparison.Ordinal) || name.EndsWith(".txt", StringComparison.Ordinal)) return AffineFileFormat.ItkText;
        return AffineFileFormat.RasMatrix;
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
        sb.Append($"Transform: AffineTransform_double_{dim}_{dim}\n");
        var p = new List<double>();
        for (int i = 0; i < dim; i++) for (int j = 0; j < dim; j++) p.Add(m[i, j]);
        for (int i = 0; i < dim; i++) p.Add(m[i, 3]);
        sb.Append("Parameters: ").Append(string.Join(" ", p.Select(F))).Append('\n');
        sb.Append("FixedParameters: ").Append(string.Join(" ", Enumerable.Repeat("0", dim))).Append('\n');
        return sb.ToString();
    }

    private static Matrix4 FromLinear(double[] mat, double[] trans, double[] centre, int dim)
    {
        // y = M (x - c) + t + c  =>  offset = t + c - M c
        var r = new double[16];
        r[15] = 1;
        for (int i = 0; i < 3; i++) r[i * 4 + i] = 1;
        for (int i = 0; i < dim; i++)
        {
            double off = trans[i] + centre[i];
            for (int j = 0; j < dim; j++)
            {
                r[i * 4 + j] = mat[i * dim + j];
                off -= mat[i * dim + j] * centre[j];
            }
            r[i * 4 + 3] = off;
        }
        return new Matrix4(r);
    }

    internal static Matrix4 FromItkText(string path, string text, out int dimension)
    {
        string? type = null; double[]? pars = null; double[]? fixedPars = null; int count = 0;
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            if (line.StartsWith("Transform:", StringComparison.Ordinal)) { type = line[10..].Trim(); count++; }
            else if (line.StartsWith("Parameters:", StringComparison.Ordinal)) pars = ParseNumbers(path, line[11..]);
            else if (line.StartsWith("FixedParameters:", StringComparison.Ordinal)) fixedPars = ParseNumbers(path, line[16..]);
        }
        if (count != 1) throw new ImageFormatException(path, count == 0 ? "no 'Transform:' line" : $"the file holds {count} transforms; RegPS reads files with one affine transform");
        var parts = type!.Split('_');
        bool affineKind = parts.Length == 4 && (parts[0] is "AffineTransform" or "MatrixOffsetTransformBase") && parts[1] is "double" or "float";
        if (!affineKind || parts[2] != parts[3] || parts[2] is not ("2" or "3"))
            throw new ImageFormatException(path, $"unsupported transform type '{type}' (expected AffineTransform_double_3_3 or _2_2)");
        dimension = parts[2] == "2" ? 2 : 3;
        int d = dimension;
        if (pars is null || pars.Length != d * d + d) throw new ImageFormatException(path, $"expected {d * d + d} Parameters for {type}, found {pars?.Length ?? 0}");
        fixedPars ??= new double[d];
        if (fixedPars.Length != d) throw new ImageFormatException(path, $"expected {d} FixedParameters, found {fixedPars.Length}");
        var lps = FromLinear(pars[..(d * d)], pars[(d * d)..], fixedPars, d);
        return RasLps(lps);
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

    internal static Matrix4 FromAntsMat(string path, byte[] bytes, out int dimension)
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
            vars[name] = v;
        }
        var key = vars.Keys.FirstOrDefault(k => k.StartsWith("AffineTransform_", StringComparison.Ordinal) || k.StartsWith("MatrixOffsetTransformBase_", StringComparison.Ordinal));
        if (key is null) throw new ImageFormatException(path, "no AffineTransform_* variable in the .mat file");
        var pars = vars[key];
        dimension = pars.Length == 12 ? 3 : pars.Length == 6 ? 2 : throw new ImageFormatException(path, $"'{key}' has {pars.Length} values; expected 12 (3D) or 6 (2D)");
        int d = dimension;
        var centre = vars.TryGetValue("fixed", out var c) ? c : vars.TryGetValue("m_FixedParameters", out var c2) ? c2 : new double[d];
        if (centre.Length != d) throw new ImageFormatException(path, $"'fixed' has {centre.Length} values; expected {d}");
        return RasLps(FromLinear(pars[..(d * d)], pars[(d * d)..], centre, d));
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
