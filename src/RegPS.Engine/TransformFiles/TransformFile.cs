using RegPS.Engine.IO;
using RegPS.Engine.Registration;
using RegPS.Engine.Transforms;

namespace RegPS.Engine.TransformFiles;

/// <summary>
/// Reads any transform file other tools or RegPS write, as a <see cref="TransformChain"/> in ITK composite order, and
/// writes chains. The extension decides the format; an unknown extension is an error:
/// <list type="bullet">
/// <item>.json: a RegPS manifest (Export-RegTransform);</item>
/// <item>.txt, .tfm: ITK text (any number of linear transforms, a CompositeTransform line allowed);</item>
/// <item>.mat: ITK/ANTs MATLAB v4 (antsRegistration's 0GenericAffine.mat);</item>
/// <item>.nii, .nii.gz: an ITK/ANTs displacement field (antsRegistration's 1Warp.nii.gz and 1InverseWarp.nii.gz),
/// which carries its own grid;</item>
/// <item>.h5, .hdf5: ITK HDF5 (composites with affines and displacement fields, as antsRegistration and fMRIPrep write);</item>
/// <item>.ras: a plain 4x4 RAS matrix.</item>
/// </list>
/// </summary>
public static class TransformFile
{
    public static bool IsNifti(string path) =>
        path.EndsWith(".nii", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".nii.gz", StringComparison.OrdinalIgnoreCase);

    public static bool IsHdf5(string path) =>
        path.EndsWith(".h5", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".hdf5", StringComparison.OrdinalIgnoreCase);

    public static bool IsManifest(string path) => path.EndsWith(".json", StringComparison.OrdinalIgnoreCase);

    /// <summary>The extensions <see cref="Load"/> reads, for messages.</summary>
    public const string KnownExtensions = ".json (RegPS manifest), .txt/.tfm (ITK text), .mat (ANTs/ITK MATLAB), .nii/.nii.gz (displacement field), .h5 (ITK HDF5) or .ras (RAS matrix)";

    public static TransformChain Load(string path, CancellationToken ct = default)
    {
        if (IsManifest(path)) return TransformChain.FromMap(MapFile.Load(path, ct), path);
        if (IsNifti(path))
            return new TransformChain(new TransformStep[] { new DisplacementFieldStep(DisplacementFieldFile.Read(path, ct)) { Source = path } }, path);
        if (IsHdf5(path)) return FromRecords(path, ItkHdf5File.ReadRecords(path));
        var format = AffineFile.TryFormatFromPath(path)
            ?? throw new ImageFormatException(path, "unknown transform file extension; RegPS reads " + KnownExtensions);
        var bytes = File.ReadAllBytes(path);
        if (bytes.Length == 0) throw new ImageFormatException(path, "the transform file is empty");
        if (AffineFile.BinaryKind(bytes) is { } kind) throw new ImageFormatException(path, kind);
        switch (format)
        {
            case AffineFileFormat.ItkText:
                var text = System.Text.Encoding.ASCII.GetString(bytes);
                if (!text.StartsWith("#Insight Transform File", StringComparison.Ordinal))
                    throw new ImageFormatException(path, "not an ITK text transform (it does not start with '#Insight Transform File V1.0')");
                return FromRecords(path, AffineFile.ParseItkText(path, text));
            case AffineFileFormat.AntsMat:
                return FromRecords(path, new[] { AffineFile.ParseAntsMat(path, bytes) });
            default:
                var m = AffineFile.Read(path, out int dim);
                return new TransformChain(new TransformStep[] { new AffineStep(m, dim) { Source = path } }, path);
        }
    }

    /// <summary>The steps of ITK records in queue order (composite records are containers and add no step).</summary>
    public static TransformChain FromRecords(string path, IReadOnlyList<ItkTransformRecord> records)
    {
        var steps = new List<TransformStep>();
        for (int i = 0; i < records.Count; i++)
        {
            var r = records[i];
            if (r.IsComposite) continue;
            string source = records.Count > 1 ? $"{path} #{i} {r.Type}" : $"{path} {r.Type}";
            if (r.IsDisplacementField)
                steps.Add(new DisplacementFieldStep(ItkHdf5File.FieldFromRecord(path, r)) { Source = source });
            else
                steps.Add(new AffineStep(AffineFile.RasLps(r.ToLpsMatrix(path)), r.Dimension) { Source = source });
        }
        if (steps.Count == 0) throw new ImageFormatException(path, "the file holds no transform (only an empty composite)");
        if (steps.Any(s => s.Dimension != steps[0].Dimension)) throw new ImageFormatException(path, "the file mixes 2D and 3D transforms");
        return new TransformChain(steps, path);
    }

    /// <summary>
    /// Writes a chain: .h5 as an ITK composite (any steps); .txt/.tfm/.mat/.ras only for a chain that is one affine
    /// step; .nii/.nii.gz only for a chain that is one displacement field. Any other extension is an error.
    /// </summary>
    public static void Save(string path, TransformChain chain, bool overwrite = false, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(chain);
        if (chain.Steps.Count == 0) throw new ArgumentException("The chain is empty.");
        if (IsHdf5(path)) { ItkHdf5File.Write(path, chain, overwrite); return; }
        if (IsNifti(path))
        {
            if (chain.Steps is not [DisplacementFieldStep f])
                throw new ArgumentException($"'{path}': a NIfTI file holds one displacement field; save this chain ({chain}) as .h5.");
            DisplacementFieldFile.Write(path, f.Field, overwrite, ct);
            return;
        }
        var format = AffineFile.TryFormatFromPath(path)
            ?? throw new ArgumentException($"'{path}': unknown transform file extension; use .h5 (ITK HDF5), .txt/.tfm (ITK text), .mat (ANTs), .ras (RAS matrix) or .nii.gz (one displacement field).");
        if (chain.Steps is not [AffineStep a])
            throw new ArgumentException($"'{path}': a {format} file holds one affine transform; save this chain ({chain}) as .h5.");
        AffineFile.Write(path, a.Matrix, a.Dimension, format, overwrite);
    }

    /// <summary>fMRIPrep's/ANTs' forward composite of a RegPS map: [affine, warp] for a diffeomorphic map, [affine] for an affine one.</summary>
    public static void SaveMap(string path, object map, bool inverse = false, bool overwrite = false)
    {
        var chain = TransformChain.FromMap(map);
        ItkHdf5File.Write(path, inverse ? chain.Inverse() : chain, overwrite);
    }
}
