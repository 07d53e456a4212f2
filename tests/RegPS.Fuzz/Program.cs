using System.Diagnostics;
using ICSharpCode.SharpZipLib.BZip2;
using RegPS.Engine.Fields;
using RegPS.Engine.Images;
using RegPS.Engine.IO;
using RegPS.Engine.Registration;
using RegPS.Engine.TransformFiles;
using RegPS.Rendering;
using SkiaSharp;

namespace RegPS.Fuzz;

/// <summary>
/// The fuzzing harness for every reader of untrusted bytes. Each target writes the input to a file with the name its
/// reader expects (in a private temporary folder) and reads it. The property: the reader returns, or throws its own
/// format error (<see cref="ImageFormatException"/>) naming that file. Any other exception escapes, which AFL++ records
/// as a crash; a run past AFL's time limit is a hang; build.ps1 Fuzz caps the managed heap (DOTNET_GCHeapHardLimit), so
/// a reader that allocates without bound fails with OutOfMemoryException, a crash too.
/// Usage:  fuzz TARGET                 under afl-fuzz (input on standard input, SharpFuzz's out-of-process fork server)
///         replay TARGET FILE...       check files without AFL (the regression tests); exit code 1 if any breaks the property
///         seeds TARGET DIR            write the target's seed inputs (small valid files made by RegPS's writers)
///         targets                     list the targets
/// </summary>
public static class Program
{
    private sealed record Target(string Name, string FileName, string Reads, Action<string> Read, Func<IEnumerable<byte[]>> Seeds);

    private static readonly Target[] Targets =
    {
        new("nifti", "input.nii", "NIfTI-1/2 (.nii)", p => NiftiReader.Read(p), () => new[] { NiftiBytes(".nii", false), NiftiBytes(".nii", true) }),
        new("nifti-gz", "input.nii.gz", "gzip-compressed NIfTI (.nii.gz)", p => NiftiReader.Read(p), () => new[] { NiftiBytes(".nii.gz", false) }),
        new("nifti-bz2", "input.nii.bz2", "bzip2-compressed NIfTI (.nii.bz2)", p => NiftiReader.Read(p), () => new[] { BZip2(NiftiBytes(".nii", false)) }),
        new("analyze", "input.hdr", "NIfTI pair (.hdr/.img): the first 348 bytes are the .hdr, the rest the .img", ReadPair, () => new[] { PairBytes() }),
        new("png", "input.png", "PNG pictures (PhotoIO)", p => PhotoIO.Read(p), () => new[] { Picture(SKEncodedImageFormat.Png, false), Picture(SKEncodedImageFormat.Png, true) }),
        new("jpeg", "input.jpg", "JPEG pictures (PhotoIO)", p => PhotoIO.Read(p), () => new[] { Picture(SKEncodedImageFormat.Jpeg, false), Picture(SKEncodedImageFormat.Jpeg, true) }),
        new("itk-text", "input.txt", "ITK text transforms (.txt/.tfm)", p => TransformFile.Load(p), () => new[] { AffineBytes(".txt"), ItkEuler() }),
        new("ants-mat", "input.mat", "ANTs/ITK MATLAB transforms (.mat)", p => TransformFile.Load(p), () => new[] { AffineBytes(".mat") }),
        new("manifest", "input.json", "RegPS transform manifests (.json) with their parts beside them", ReadManifest, () => new[] { ManifestBytes() }),
        new("warp", "input_Warp.nii", "displacement-field NIfTI (ITK/ANTs layout)", p => DisplacementFieldFile.Read(p), () => new[] { WarpBytes() }),
        new("h5", "input.h5", "ITK HDF5 transforms (.h5)", p => TransformFile.Load(p), () => new[] { H5Bytes() }),
    };

    public static int Main(string[] args)
    {
        if (args.Length >= 1 && args[0] == "targets")
        {
            foreach (var t in Targets) Console.WriteLine($"{t.Name,-10} {t.Reads}");
            return 0;
        }
        if (args.Length < 2) { Console.Error.WriteLine("usage: fuzz TARGET | replay TARGET FILE... | seeds TARGET DIR | targets"); return 2; }
        var target = Targets.FirstOrDefault(t => t.Name == args[1]);
        if (target is null) { Console.Error.WriteLine($"no target '{args[1]}'; known: {string.Join(", ", Targets.Select(t => t.Name))}"); return 2; }
        string work = Path.Combine(Path.GetTempPath(), $"regps-fuzz-{target.Name}-{Environment.ProcessId}");
        Directory.CreateDirectory(work);
        try
        {
            switch (args[0])
            {
                case "fuzz":
                    SharpFuzz.Fuzzer.OutOfProcess.Run(stream =>
                    {
                        using var ms = new MemoryStream();
                        stream.CopyTo(ms);
                        Check(target, work, ms.ToArray());
                    });
                    return 0;
                case "replay":
                    int bad = 0;
                    foreach (var file in args.Skip(2))
                    {
                        var clock = Stopwatch.StartNew();
                        try
                        {
                            string outcome = Check(target, work, File.ReadAllBytes(file));
                            Console.WriteLine($"ok   {file}: {outcome} ({clock.ElapsedMilliseconds} ms)");
                        }
                        catch (Exception e)
                        {
                            bad++;
                            Console.WriteLine($"FAIL {file}: {e.GetType().FullName}: {e.Message}");
                            if (Environment.GetEnvironmentVariable("REGPS_FUZZ_STACK") == "1") Console.WriteLine(e.StackTrace);
                        }
                    }
                    return bad == 0 ? 0 : 1;
                case "seeds":
                    Directory.CreateDirectory(args[2]);
                    int n = 0;
                    foreach (var seed in target.Seeds()) File.WriteAllBytes(Path.Combine(args[2], $"seed{n++}{Path.GetExtension(target.FileName)}"), seed);
                    Console.WriteLine($"{n} seeds for {target.Name} in {args[2]}");
                    return 0;
                default:
                    Console.Error.WriteLine($"unknown command '{args[0]}'");
                    return 2;
            }
        }
        finally
        {
            try { Directory.Delete(work, true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    /// <summary>The property: the reader returns, or throws ImageFormatException naming the file; anything else escapes.</summary>
    private static string Check(Target target, string work, byte[] input)
    {
        string path = Path.Combine(work, target.FileName);
        File.WriteAllBytes(path, input);
        try
        {
            target.Read(path);
            return "read";
        }
        catch (ImageFormatException e) when (e.FilePath == path || Path.GetDirectoryName(e.FilePath) == work)
        {
            return "refused: " + e.Problem;
        }
        catch (ImageFormatException e)
        {
            throw new InvalidOperationException($"the format error names '{e.FilePath}', not the file read ('{path}')", e);
        }
    }

    private static void ReadPair(string hdrPath)
    {
        var bytes = File.ReadAllBytes(hdrPath);
        int split = Math.Min(348, bytes.Length);
        File.WriteAllBytes(hdrPath, bytes[..split]);
        File.WriteAllBytes(Path.ChangeExtension(hdrPath, ".img"), bytes[split..]);
        NiftiReader.Read(hdrPath);
    }

    /// <summary>The fuzzed manifest with a valid affine part (affine.mat) and warp parts beside it.</summary>
    private static void ReadManifest(string path)
    {
        string dir = Path.GetDirectoryName(path)!;
        AffineFile.Write(Path.Combine(dir, "seed_affine.mat"), Rotation(), 3, overwrite: true); // the seed manifest's part
        TransformFile.Load(path);
    }

    // ---- seeds: small valid files written by RegPS's own writers ----

    private static Image SmallImage(int nx, int ny, int nz)
    {
        var grid = new Grid(nx, ny, nz, Matrix4.Translation(-3, 2, 1) * Matrix4.Scaling(2, 2, 3), nz == 1 ? 2 : 3);
        var data = new float[grid.VoxelCount];
        for (int i = 0; i < data.Length; i++) data[i] = (i * 37 % 101) * 0.5f;
        return Image.FromVoxels(grid, data);
    }

    private static byte[] ViaFile(string extension, Action<string> write)
    {
        string dir = Path.Combine(Path.GetTempPath(), "regps-fuzz-seed-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            string p = Path.Combine(dir, "seed" + extension);
            write(p);
            return File.ReadAllBytes(p);
        }
        finally { Directory.Delete(dir, true); }
    }

    private static byte[] NiftiBytes(string extension, bool int16) =>
        ViaFile(extension, p => NiftiWriter.Write(SmallImage(6, 5, 4), p, int16 ? NiftiDataType.Int16 : null));

    private static byte[] BZip2(byte[] data)
    {
        using var outMs = new MemoryStream();
        using (var bz = new BZip2OutputStream(outMs) { IsStreamOwner = false }) bz.Write(data);
        return outMs.ToArray();
    }

    private static byte[] PairBytes()
    {
        // A single-file NIfTI-1 turned into a pair: magic "ni1", vox_offset 0; header (348 bytes) then the voxels.
        var nii = NiftiBytes(".nii", false);
        var hdr = nii[..348];
        hdr[344] = (byte)'n'; hdr[345] = (byte)'i'; hdr[346] = (byte)'1'; hdr[347] = 0;
        BitConverter.GetBytes(0f).CopyTo(hdr, 108);
        float offset = BitConverter.ToSingle(nii, 108);
        return hdr.Concat(nii[(int)offset..]).ToArray();
    }

    private static byte[] Picture(SKEncodedImageFormat format, bool colour)
    {
        using var bmp = new SKBitmap(12, 9);
        for (int y = 0; y < 9; y++)
            for (int x = 0; x < 12; x++)
                bmp.SetPixel(x, y, colour ? new SKColor((byte)(x * 20), (byte)(y * 25), 90) : new SKColor((byte)(x * 20), (byte)(x * 20), (byte)(x * 20)));
        using var img = SKImage.FromBitmap(bmp);
        using var data = img.Encode(format, 90);
        return data.ToArray();
    }

    private static Matrix4 Rotation()
    {
        double a = 0.1;
        return Matrix4.Translation(2, -1, 3) * new Matrix4(new[] { Math.Cos(a), -Math.Sin(a), 0, 0, Math.Sin(a), Math.Cos(a), 0, 0, 0, 0, 1, 0, 0, 0, 0, 1 });
    }

    private static byte[] AffineBytes(string extension) => ViaFile(extension, p => AffineFile.Write(p, Rotation(), 3));

    private static byte[] ItkEuler() => System.Text.Encoding.ASCII.GetBytes(
        "#Insight Transform File V1.0\n#Transform 0\nTransform: Euler3DTransform_double_3_3\nParameters: 0.1 0.2 0.3 4 5 6\nFixedParameters: 1 2 3 0\n");

    private static byte[] ManifestBytes() => ViaFile(".json", p =>
    {
        var g = SmallImage(6, 5, 4).Grid;
        MapFile.Save(new AffineMap(Rotation(), g, g), p);
    });

    private static DisplacementField SmallField()
    {
        var g = SmallImage(5, 4, 3).Grid;
        var v = new float[g.VoxelCount * 3];
        for (int i = 0; i < v.Length; i++) v[i] = (i % 7 - 3) * 0.1f;
        return new DisplacementField(g, v);
    }

    private static byte[] WarpBytes() => ViaFile("_Warp.nii", p => DisplacementFieldFile.Write(p, SmallField()));

    private static byte[] H5Bytes() => ViaFile(".h5", p =>
    {
        string dir = Path.GetDirectoryName(p)!;
        AffineFile.Write(Path.Combine(dir, "a.txt"), Rotation(), 3);
        ItkHdf5File.Write(p, TransformFile.Load(Path.Combine(dir, "a.txt")));
    });
}
