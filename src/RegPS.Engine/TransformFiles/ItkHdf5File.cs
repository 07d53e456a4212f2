using PureHDF;
using RegPS.Engine.Common;
using RegPS.Engine.Images;
using RegPS.Engine.IO;
using RegPS.Engine.Registration;
using RegPS.Engine.Transforms;

namespace RegPS.Engine.TransformFiles;

/// <summary>
/// ITK's HDF5 transform files (.h5), as antsRegistration (--write-composite-transform) and fMRIPrep write them:
/// group /TransformGroup with one subgroup per transform named 0, 1, ...; each holds TransformType (a one-element
/// string array such as AffineTransform_double_3_3), TransformParameters and TransformFixedParameters (1-D). A composite
/// is subgroup 0 holding only its type, then its queue in order. Everything is in ITK's LPS millimetres; a displacement
/// field's fixed parameters are its grid (size, origin, spacing, direction row-major) and its parameters the vectors,
/// x fastest, components interleaved. Read and written with PureHDF (managed HDF5).
/// </summary>
public static class ItkHdf5File
{
    private static readonly byte[] Signature = { 0x89, (byte)'H', (byte)'D', (byte)'F', 0x0d, 0x0a, 0x1a, 0x0a };

    /// <summary>Every transform record of the file in group order (a composite's own record included).</summary>
    public static List<ItkTransformRecord> ReadRecords(string path)
    {
        var head = new byte[8];
        using (var fs = File.OpenRead(path))
        {
            if (fs.Read(head, 0, 8) < 8 || !head.AsSpan().SequenceEqual(Signature))
            {
                fs.Position = 0;
                var start = new byte[Math.Min(400, fs.Length)];
                fs.ReadExactly(start);
                throw new ImageFormatException(path, AffineFile.BinaryKind(start) is { } k && !k.Contains("HDF5", StringComparison.Ordinal)
                    ? k.Replace("not a text or .mat transform", "not an HDF5 transform", StringComparison.Ordinal)
                    : "not an HDF5 file (no HDF5 signature); ITK .h5 transforms are HDF5");
            }
        }
        byte[] bytes = File.ReadAllBytes(path);
        long fileLength = bytes.Length;
        // PureHDF allocates lengths read from the file before reading and follows addresses without loop checks: the
        // structure is checked first. It reads from memory, where a read past the end throws (its file driver returns
        // whatever was in its buffer instead, and a corrupt length then makes it read on without end).
        Hdf5StructureCheck.Run(path, bytes);
        try
        {
            using var file = H5File.Open(new MemoryStream(bytes, writable: false));
            if (!file.LinkExists("TransformGroup"))
                throw new ImageFormatException(path, "an HDF5 file without /TransformGroup: not an ITK transform file");
            var group = file.Group("TransformGroup");
            var names = group.Children().Select(c => c.Name).ToList();
            var indices = new List<int>();
            foreach (var n in names)
            {
                if (!int.TryParse(n, out int i) || i < 0) throw new ImageFormatException(path, $"/TransformGroup/{n}: ITK names the transforms 0, 1, 2, ...");
                indices.Add(i);
            }
            indices.Sort();
            var records = new List<ItkTransformRecord>();
            foreach (int i in indices)
            {
                var g = group.Group(i.ToString(System.Globalization.CultureInfo.InvariantCulture));
                string where = $"/TransformGroup/{i}";
                if (!g.LinkExists("TransformType")) throw new ImageFormatException(path, $"{where} has no TransformType");
                var typeSet = g.Dataset("TransformType");
                CheckDeclaredSize(path, where + "/TransformType", typeSet, fileLength, 16);
                var typeNames = typeSet.Read<string[]>();
                if (typeNames.Length != 1 || string.IsNullOrWhiteSpace(typeNames[0])) throw new ImageFormatException(path, $"{where}/TransformType must hold one name");
                string type = typeNames[0].Trim('\0', ' ');
                double[] pars = g.LinkExists("TransformParameters") ? ReadNumbers(path, where + "/TransformParameters", g.Dataset("TransformParameters"), fileLength) : Array.Empty<double>();
                double[] fixedPars = g.LinkExists("TransformFixedParameters") ? ReadNumbers(path, where + "/TransformFixedParameters", g.Dataset("TransformFixedParameters"), fileLength) : Array.Empty<double>();
                records.Add(new ItkTransformRecord(type, pars, fixedPars));
            }
            if (records.Count == 0) throw new ImageFormatException(path, "/TransformGroup holds no transform");
            return records;
        }
        catch (ImageFormatException) { throw; }
        catch (Exception e) when (e is not OperationCanceledException and not OutOfMemoryException)
        {
            throw new ImageFormatException(path, "cannot read the HDF5 transform: " + e.Message, e);
        }
    }

    /// <summary>
    /// Refuses a dataset whose declared size is absurd before PureHDF allocates it: more than maxElements values, or
    /// more bytes than 64 times the file (ITK writes its transforms uncompressed; 64x leaves room for compression).
    /// </summary>
    private static void CheckDeclaredSize(string path, string where, IH5Dataset ds, long fileLength, long maxElements)
    {
        ulong n = 1;
        try { foreach (var d in ds.Space.Dimensions) n = checked(n * d); }
        catch (OverflowException) { throw new ImageFormatException(path, $"{where} declares a size that overflows"); }
        ulong limit = (ulong)Math.Max(64L * fileLength, 1L << 20);
        if (n > (ulong)maxElements || n * (ulong)Math.Max(1, ds.Type.Size) > limit)
            throw new ImageFormatException(path, $"{where} declares {n:N0} values of {ds.Type.Size} bytes, more than a {fileLength:N0}-byte file can hold");
    }

    private static double[] ReadNumbers(string path, string where, IH5Dataset ds, long fileLength)
    {
        CheckDeclaredSize(path, where, ds, fileLength, 1L << 28);
        if (ds.Type.Class != H5DataTypeClass.FloatingPoint)
            throw new ImageFormatException(path, $"{where} is {ds.Type.Class}, not floating point");
        double[] v = ds.Type.Size switch
        {
            8 => ds.Read<double[]>(),
            4 => Array.ConvertAll(ds.Read<float[]>(), x => (double)x),
            _ => throw new ImageFormatException(path, $"{where} has {ds.Type.Size}-byte floats"),
        };
        for (int i = 0; i < v.Length; i++)
            if (!double.IsFinite(v[i])) throw new ImageFormatException(path, $"{where}[{i}] is not a finite number");
        return v;
    }

    /// <summary>A displacement field record as a RegPS field (RAS mm on a RAS grid).</summary>
    public static DisplacementField FieldFromRecord(string path, ItkTransformRecord r)
    {
        int d = r.Dimension;
        if (d is not (2 or 3)) throw new ImageFormatException(path, $"'{r.Type}' does not name a dimension of 2 or 3");
        var f = r.FixedParameters;
        int need = d + d + d + d * d;
        if (f.Length != need) throw new ImageFormatException(path, $"'{r.Type}' needs {need} fixed parameters (size, origin, spacing, direction), found {f.Length}");
        var size = new int[3] { 1, 1, 1 };
        for (int i = 0; i < d; i++)
        {
            if (f[i] < 1 || f[i] != Math.Floor(f[i]) || f[i] > int.MaxValue) throw new ImageFormatException(path, $"'{r.Type}': size {f[i]} is not a positive whole number");
            size[i] = (int)f[i];
        }
        long n = (long)size[0] * size[1] * size[2];
        if (r.Parameters.LongLength != n * d) throw new ImageFormatException(path, $"'{r.Type}' on a {string.Join("x", size.Take(d))} grid needs {n * d} parameters, found {r.Parameters.Length}");
        // LPS grid-to-world: direction (row-major) times diag(spacing), origin; RAS = F * LPS with F = diag(-1, -1, 1).
        var m = new double[16];
        m[15] = 1;
        if (d == 2) m[10] = 1;
        for (int i = 0; i < d; i++)
        {
            double flip = i < 2 ? -1 : 1;
            for (int j = 0; j < d; j++) m[i * 4 + j] = flip * f[3 * d + i * d + j] * f[2 * d + j];
            m[i * 4 + 3] = flip * f[d + i];
        }
        Grid grid;
        try { grid = new Grid(size[0], size[1], size[2], new Matrix4(m), d); }
        catch (ArgumentException e) { throw new ImageFormatException(path, $"'{r.Type}': the field's grid is invalid ({e.Message})", e); }
        var v = new float[n * d];
        for (long i = 0; i < n; i++)
            for (int c = 0; c < d; c++)
                v[i * d + c] = (float)((c < 2 ? -1 : 1) * r.Parameters[i * d + c]);
        return new DisplacementField(grid, v);
    }

    /// <summary>The record of a RegPS field: DisplacementFieldTransform_float_d_d with the LPS grid and vectors.</summary>
    public static ItkTransformRecord RecordFromField(DisplacementField field)
    {
        var g = field.Grid;
        int d = g.Dimension;
        var size = d == 2 ? new[] { g.NX, g.NY } : new[] { g.NX, g.NY, g.NZ };
        var spacing = g.Spacing;
        var f = new double[d + d + d + d * d];
        for (int i = 0; i < d; i++)
        {
            double flip = i < 2 ? -1 : 1;
            f[i] = size[i];
            f[d + i] = flip * g.GridToWorld[i, 3];
            f[2 * d + i] = spacing[i];
            for (int j = 0; j < d; j++) f[3 * d + i * d + j] = flip * g.GridToWorld[i, j] / spacing[j];
        }
        var src = field.Values;
        var p = new double[src.Length];
        for (int i = 0; i < src.Length; i++) p[i] = (i % d) < 2 ? -src[i] : src[i];
        return new ItkTransformRecord($"DisplacementFieldTransform_float_{d}_{d}", p, f);
    }

    /// <summary>
    /// Writes <paramref name="chain"/> as an ITK composite (/TransformGroup/0 = CompositeTransform_double_d_d, then the
    /// steps in the chain's order as 1, 2, ...): affine steps as AffineTransform_double_d_d (float64 parameters),
    /// fields as DisplacementFieldTransform_float_d_d (float32 parameters, float64 fixed parameters).
    /// </summary>
    public static void Write(string path, TransformChain chain, bool overwrite = false)
    {
        int d = chain.Dimension;
        var records = new List<(ItkTransformRecord Record, bool Float)> { (new ItkTransformRecord($"CompositeTransform_double_{d}_{d}", Array.Empty<double>(), Array.Empty<double>()), false) };
        foreach (var s in chain.Steps)
        {
            records.Add(s switch
            {
                AffineStep a => (ItkTransformRecord.FromLpsMatrix(AffineFile.RasLps(a.Matrix), d, "AffineTransform"), false),
                DisplacementFieldStep f => (RecordFromField(f.Field), true),
                _ => throw new ArgumentException($"Cannot write a {s.Kind} step to ITK HDF5."),
            });
        }
        var group = new H5Group();
        for (int i = 0; i < records.Count; i++)
        {
            var (r, asFloat) = records[i];
            var g = new H5Group { ["TransformType"] = new[] { r.Type } };
            if (!r.IsComposite)
            {
                g["TransformFixedParameters"] = r.FixedParameters;
                g["TransformParameters"] = asFloat ? Array.ConvertAll(r.Parameters, x => (float)x) : r.Parameters;
            }
            group[i.ToString(System.Globalization.CultureInfo.InvariantCulture)] = g;
        }
        var file = new H5File { ["TransformGroup"] = group };
        // PureHDF needs a stream it can read back and seek; the temporary file AtomicFile hands out is write-only.
        using var buffer = new MemoryStream();
        file.Write(buffer);
        AtomicFile.Write(path, overwrite, s => buffer.WriteTo(s));
    }
}
